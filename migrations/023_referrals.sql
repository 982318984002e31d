-- Referrals (docs/rules.md, "Bonuses"; the join bonus is a host command of migration 018): a
-- member may name the member who referred them; at the referred member's first purchase the
-- referrer's card gets the earn rules' referral bonus, a transaction of its own that names the
-- purchase (original_transaction_id) and no terminal.

ALTER TABLE members ADD COLUMN referred_by bigint REFERENCES members
    CHECK (referred_by <> id);
CREATE INDEX members_referred_by ON members (referred_by) WHERE referred_by IS NOT NULL;
GRANT SELECT (referred_by) ON members TO jifen_host;

-- Besides a terminal's and a command's, a third origin: a bonus the host posts with the
-- purchase it rewards.
ALTER TABLE transactions DROP CONSTRAINT transactions_from_a_terminal_or_a_command;
ALTER TABLE transactions ADD CONSTRAINT transactions_from_a_terminal_or_a_command CHECK (
    (command_id IS NULL AND terminal_code IS NOT NULL AND merchant_id IS NOT NULL
        AND mti IS NOT NULL AND stan IS NOT NULL AND transmission_time IS NOT NULL)
    OR (command_id IS NOT NULL AND terminal_code IS NULL AND merchant_id IS NULL
        AND mti IS NULL AND stan IS NULL AND transmission_time IS NULL AND rrn IS NULL)
    OR (kind = 'referral_bonus' AND original_transaction_id IS NOT NULL AND command_id IS NULL
        AND terminal_code IS NULL AND merchant_id IS NULL AND mti IS NULL AND stan IS NULL
        AND transmission_time IS NULL AND rrn IS NULL)
) NOT VALID;
ALTER TABLE transactions VALIDATE CONSTRAINT transactions_from_a_terminal_or_a_command;
