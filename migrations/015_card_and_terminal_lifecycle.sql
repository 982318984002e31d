-- Cards, shops and terminals through their life (docs/back-office.md, "Cards through their
-- life", "Shops and terminals").

-- A card sold but not yet activated is 'inactive'; one replaced, or closed and refunded, is
-- 'closed' for good. The host declines both 05, as it does a blocked card.
ALTER TABLE cards DROP CONSTRAINT cards_status_check;
ALTER TABLE cards ADD CONSTRAINT cards_status_check
    CHECK (status IN ('active', 'inactive', 'lost', 'stolen', 'blocked', 'closed'));

-- Shops (门店): a level under a merchant. Terminals belong to a shop; settlement stays per
-- merchant. A terminal of an inactive shop is treated as inactive (58).
CREATE TABLE shops (
    id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id  integer NOT NULL REFERENCES merchants,
    shop_code    text NOT NULL UNIQUE CHECK (shop_code ~ '^[A-Z0-9]{1,15}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, merchant_id)
);
-- A terminal's shop is one of its own merchant's (terminals of before this migration have
-- none until given one).
ALTER TABLE terminals
    ADD COLUMN shop_id integer,
    ADD CONSTRAINT terminals_shop_of_its_merchant
        FOREIGN KEY (shop_id, merchant_id) REFERENCES shops (id, merchant_id),
    -- When the TMK was last replaced: a MAC session key issued before it is void.
    ADD COLUMN tmk_changed_at timestamptz;
CREATE INDEX terminals_shop_id ON terminals (shop_id) WHERE shop_id IS NOT NULL;

GRANT SELECT, INSERT, UPDATE ON shops TO jifen_back_office;   -- and so HQ admins (011)
GRANT SELECT (id, merchant_id, active) ON shops TO jifen_host, jifen_front, jifen_clearing;
GRANT SELECT (shop_id) ON terminals TO jifen_host, jifen_clearing;
-- A merchant admin reads its own merchant's shops only (as its terminals, migration 011).
GRANT SELECT ON shops TO jifen_op_merchant_admin;
ALTER TABLE shops ENABLE ROW LEVEL SECURITY;
CREATE POLICY shops_all ON shops TO jifen_host, jifen_front, jifen_clearing, jifen_back_office,
    jifen_audit USING (true) WITH CHECK (true);
CREATE POLICY shops_own ON shops FOR SELECT TO jifen_op_merchant_admin
    USING (merchant_id = operator_merchant_id());
