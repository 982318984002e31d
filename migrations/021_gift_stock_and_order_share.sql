-- Gifts with stock, and points paying part of an order (host interface 1.2 §4; docs/rules.md,
-- "Gifts and orders").
--
-- A gift's stock is the account host's once the gift exists: the back office creates the row
-- with its first stock, and after that asks the host (host_commands: gift_restock,
-- gift_withdrawal). The host keeps stock in memory, decrements it with the redemption that
-- takes a gift and restores it with that redemption's reversal, and writes it in the same
-- statement as the postings (account_host/journal.py, gifts_written).

-- stock NULL: not counted (gifts made before this migration, until their first restock).
-- host_name: the one host that keeps the gift's stock and answers its redemptions (a stock
-- has a single writer, as a balance has).
-- stock_initial: the stock the gift was added with (never changed), from which the audit counts
-- the stock it should have now (back_office/ledger_check/gifts.py).
ALTER TABLE gift_catalogue
    ADD COLUMN stock bigint CHECK (stock >= 0),
    ADD COLUMN stock_initial bigint CHECK (stock_initial >= 0),
    ADD COLUMN host_name text NOT NULL DEFAULT 'main'
        CHECK (host_name ~ '^[a-z][a-z0-9_-]{0,31}$'),
    ADD CONSTRAINT gift_catalogue_stock_counted CHECK (stock_initial IS NULL OR stock IS NOT NULL);

-- The back office creates gifts and reads them; the host alone changes stock and withdraws.
REVOKE UPDATE ON gift_catalogue FROM jifen_back_office;
GRANT UPDATE (stock, active) ON gift_catalogue TO jifen_host;
GRANT SELECT ON gift_catalogue TO jifen_op_card_service, jifen_op_merchant_admin,
    jifen_op_clearing;

-- The gift each redemption took, written with it by the host, so that its reversal gives the
-- gift back after a restart too, and the audit can check it against the journal. A table of
-- its own rather than a column of transactions: a purchase's row carries nothing more.
CREATE TABLE gift_redemptions (
    transaction_id  bigint PRIMARY KEY REFERENCES transactions,
    alliance_id     integer NOT NULL,
    gift_code       text NOT NULL,
    FOREIGN KEY (alliance_id, gift_code) REFERENCES gift_catalogue (alliance_id, gift_code)
);
CREATE INDEX gift_redemptions_gift ON gift_redemptions (alliance_id, gift_code);
CREATE TRIGGER gift_redemptions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON gift_redemptions FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();
GRANT SELECT, INSERT ON gift_redemptions TO jifen_host;
GRANT SELECT ON gift_redemptions TO jifen_audit;

-- Commands that name a gift instead of a card.
ALTER TABLE host_commands DROP CONSTRAINT host_commands_kind_check;
ALTER TABLE host_commands ADD CONSTRAINT host_commands_kind_check CHECK (
    kind IN ('points_adjustment', 'stored_value_adjustment', 'points_transfer',
             'card_replacement', 'card_closure', 'join_bonus', 'gift_restock',
             'gift_withdrawal'));
ALTER TABLE host_commands
    ALTER COLUMN card_id DROP NOT NULL,
    ADD COLUMN gift_alliance_id integer,
    ADD COLUMN gift_code text,
    ADD CONSTRAINT host_commands_gift FOREIGN KEY (gift_alliance_id, gift_code)
        REFERENCES gift_catalogue (alliance_id, gift_code);
ALTER TABLE host_commands ADD CONSTRAINT host_commands_card_or_gift CHECK (
    CASE WHEN kind IN ('gift_restock', 'gift_withdrawal')
         THEN card_id IS NULL AND other_card_id IS NULL AND gift_alliance_id IS NOT NULL
              AND gift_code IS NOT NULL
         ELSE card_id IS NOT NULL AND gift_alliance_id IS NULL AND gift_code IS NULL END);
-- A gift command carried out moves no balance: done, with no transaction.
ALTER TABLE host_commands DROP CONSTRAINT host_commands_check1;
ALTER TABLE host_commands ADD CONSTRAINT host_commands_done_with_transaction CHECK (
    CASE WHEN card_id IS NULL THEN transaction_id IS NULL
         ELSE (state = 'done') = (transaction_id IS NOT NULL) END);
CREATE INDEX host_commands_gift ON host_commands (gift_alliance_id, gift_code)
    WHERE gift_code IS NOT NULL;

CREATE OR REPLACE FUNCTION host_commands_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.requested_by := session_user;
        NEW.requested_at := now();
        NEW.state := 'pending';
        NEW.result_code := NULL;
        NEW.result := NULL;
        NEW.transaction_id := NULL;
        NEW.done_at := NULL;
        RETURN NEW;
    END IF;
    IF OLD.state <> 'pending' THEN
        RAISE EXCEPTION 'host command % is % already', OLD.id, OLD.state
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.kind IS DISTINCT FROM OLD.kind OR NEW.payload IS DISTINCT FROM OLD.payload
       OR NEW.card_id IS DISTINCT FROM OLD.card_id
       OR NEW.other_card_id IS DISTINCT FROM OLD.other_card_id
       OR NEW.gift_alliance_id IS DISTINCT FROM OLD.gift_alliance_id
       OR NEW.gift_code IS DISTINCT FROM OLD.gift_code
       OR NEW.approval_id IS DISTINCT FROM OLD.approval_id
       OR NEW.requested_by IS DISTINCT FROM OLD.requested_by
       OR NEW.requested_at IS DISTINCT FROM OLD.requested_at THEN
        RAISE EXCEPTION 'a host command is carried out or refused, never edited'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

GRANT INSERT (gift_alliance_id, gift_code) ON host_commands TO jifen_back_office;

-- The most of an order that points may pay, in basis points (5000: half); 0 refuses OA.
ALTER TABLE alliances ADD COLUMN order_points_share_bp integer NOT NULL DEFAULT 5000
    CHECK (order_points_share_bp BETWEEN 0 AND 10000);
