-- The full transaction set on the double-entry ledger (docs/ledger.md): the chart of accounts
-- as a constraint, the member's stored-value movement on each transaction, the gift catalogue,
-- items flagged for review, and the tombstones of reversals whose original was never seen.

-- The chart of accounts (docs/ledger.md): every account kind, in its ledger, with its owner.
ALTER TABLE accounts ADD CONSTRAINT accounts_chart CHECK (
    (ledger = 'points' AND kind = 'member_points'
        AND card_id IS NOT NULL AND merchant_id IS NULL AND alliance_id IS NULL)
    OR (ledger = 'points' AND kind IN ('merchant_points_issued', 'merchant_points_redeemed')
        AND card_id IS NULL AND merchant_id IS NOT NULL AND alliance_id IS NULL)
    OR (ledger = 'points' AND kind IN ('alliance_points_exchanged', 'alliance_breakage')
        AND card_id IS NULL AND merchant_id IS NULL AND alliance_id IS NOT NULL)
    OR (ledger = 'money' AND kind = 'member_stored_value'
        AND card_id IS NOT NULL AND merchant_id IS NULL AND alliance_id IS NULL)
    OR (ledger = 'money'
        AND kind IN ('merchant_stored_value_loaded', 'merchant_stored_value_spent')
        AND card_id IS NULL AND merchant_id IS NOT NULL AND alliance_id IS NULL)
    OR (ledger = 'money' AND kind = 'alliance_stored_value_exchange'
        AND card_id IS NULL AND merchant_id IS NULL AND alliance_id IS NOT NULL)
);

-- What the transaction moved on the member's stored value, in fen, signed like `points`.
ALTER TABLE transactions ADD COLUMN stored_value_fen bigint NOT NULL DEFAULT 0;
-- Returns and reversals name their original; the host's load and the audit look them up.
CREATE INDEX transactions_original ON transactions (original_transaction_id)
    WHERE original_transaction_id IS NOT NULL;
-- The host loads the recent transactions (reversal and return windows) at start.
CREATE INDEX transactions_posted_at ON transactions (posted_at);

-- Gifts a member may redeem points for (0200/900000 with tag GC), priced in points.
CREATE TABLE gift_catalogue (
    alliance_id  integer NOT NULL REFERENCES alliances,
    gift_code    text NOT NULL CHECK (gift_code ~ '^[A-Za-z0-9_-]{1,32}$'),   -- tag GC
    name         text NOT NULL,
    points       bigint NOT NULL CHECK (points > 0),
    active       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (alliance_id, gift_code)
);

-- Transactions an operator should look at: offline advices posted although a check would have
-- declined them, reversals the host declined. Written by the account host.
CREATE TABLE review_items (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  bigint NOT NULL REFERENCES transactions,
    reason          text NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX review_items_transaction ON review_items (transaction_id);

-- A reversal whose original the host never saw: the original's key (MTI + 41 + 11 + 7, from
-- field 90), so that the original is declined (05) if it arrives later. Written by the host.
CREATE TABLE reversal_tombstones (
    terminal_code      text NOT NULL,
    mti                text NOT NULL,
    stan               text NOT NULL,
    transmission_time  text NOT NULL,
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (terminal_code, mti, stan, transmission_time)
);
CREATE INDEX reversal_tombstones_created_at ON reversal_tombstones (created_at);
