-- Expiring points (docs/rules.md, "Expiring points"). The account host keeps each points
-- account's lots in memory and writes them with the balance, in the same row: `lots` holds
-- them packed (8 bytes a lot: the last day's ordinal above bit 40, the points below, soonest
-- first; account_host/expiry/lots.py), `lots_expire_first` the soonest last day, indexed for
-- the nightly job that finds the cards with points to expire. A transaction's `lot_moves`
-- (day int4, signed points int8, per lot) is what its reversal undoes after a restart.

ALTER TABLE accounts
    ADD COLUMN lots bytea CHECK (length(lots) % 8 = 0 AND length(lots) > 0),
    ADD COLUMN lots_expire_first date,
    ADD CONSTRAINT accounts_lots_of_points CHECK (
        (lots IS NULL AND lots_expire_first IS NULL)
        OR (kind = 'member_points' AND lots IS NOT NULL AND lots_expire_first IS NOT NULL));
CREATE INDEX accounts_lots_expire_first ON accounts (lots_expire_first)
    WHERE lots_expire_first IS NOT NULL;
ALTER TABLE transactions ADD COLUMN lot_moves bytea CHECK (length(lot_moves) % 12 = 0);

-- The nightly expiry reads which cards have lots due, never the lots themselves.
GRANT SELECT (lots_expire_first) ON accounts TO jifen_back_office;

-- An expiry: one transaction per card, posted by the host for a sweep command (which names
-- many cards, so the transactions do not carry its id), with no terminal.
ALTER TABLE transactions DROP CONSTRAINT transactions_from_a_terminal_or_a_command;
ALTER TABLE transactions ADD CONSTRAINT transactions_from_a_terminal_or_a_command CHECK (
    (command_id IS NULL AND terminal_code IS NOT NULL AND merchant_id IS NOT NULL
        AND mti IS NOT NULL AND stan IS NOT NULL AND transmission_time IS NOT NULL)
    OR (command_id IS NOT NULL AND terminal_code IS NULL AND merchant_id IS NULL
        AND mti IS NULL AND stan IS NULL AND transmission_time IS NULL AND rrn IS NULL)
    OR (kind = 'referral_bonus' AND original_transaction_id IS NOT NULL AND command_id IS NULL
        AND terminal_code IS NULL AND merchant_id IS NULL AND mti IS NULL AND stan IS NULL
        AND transmission_time IS NULL AND rrn IS NULL)
    OR (kind = 'points_expiry' AND original_transaction_id IS NULL AND command_id IS NULL
        AND terminal_code IS NULL AND merchant_id IS NULL AND mti IS NULL AND stan IS NULL
        AND transmission_time IS NULL AND rrn IS NULL AND card_id IS NOT NULL)
) NOT VALID;
ALTER TABLE transactions VALIDATE CONSTRAINT transactions_from_a_terminal_or_a_command;

-- The sweep kind: a chunk of an alliance's cards (proto.host_commands.SweepPayload); its row's
-- card_id is the chunk's first card, which routes it to the host holding them. Done, it names
-- no transaction (it posts one per card, or none).
ALTER TABLE host_commands DROP CONSTRAINT host_commands_kind_check;
ALTER TABLE host_commands ADD CONSTRAINT host_commands_kind_check CHECK (
    kind IN ('points_adjustment', 'stored_value_adjustment', 'points_transfer',
             'card_replacement', 'card_closure', 'join_bonus', 'gift_restock',
             'gift_withdrawal', 'points_expiry'));
ALTER TABLE host_commands DROP CONSTRAINT host_commands_done_with_transaction;
ALTER TABLE host_commands ADD CONSTRAINT host_commands_done_with_transaction CHECK (
    CASE WHEN card_id IS NULL OR kind = 'points_expiry' THEN transaction_id IS NULL
         ELSE (state = 'done') = (transaction_id IS NOT NULL) END);
