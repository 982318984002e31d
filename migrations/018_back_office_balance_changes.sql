-- Back-office changes of balances (docs/back-office.md, "Balances"): adjustments, transfers,
-- replacement and closure of a card. The back office writes a command; the account host, the
-- only writer of balances, applies it in a group commit and writes its outcome into the row in
-- that commit's statement (proto/host_commands.py).

CREATE TABLE host_commands (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('points_adjustment', 'stored_value_adjustment',
                                                  'points_transfer', 'card_replacement',
                                                  'card_closure', 'join_bonus')),
    -- proto.host_commands.CommandPayload as JSON: ids and amounts, never a card number.
    payload         jsonb NOT NULL,
    card_id         bigint NOT NULL REFERENCES cards,
    other_card_id   bigint REFERENCES cards,
    -- The second operator's approval it is carried out under (the kinds that need one).
    approval_id     bigint UNIQUE REFERENCES approval_requests,
    requested_by    text NOT NULL DEFAULT session_user,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'done', 'refused')),
    result_code     text CHECK (result_code ~ '^[0-9A-Z]{2}$'),
    result          text CHECK (length(result) <= 200),
    transaction_id  bigint,
    done_at         timestamptz,
    CHECK ((state = 'pending') = (done_at IS NULL)),
    CHECK ((state = 'done') = (transaction_id IS NOT NULL)),
    CHECK ((state = 'pending') = (result_code IS NULL))
);
CREATE INDEX host_commands_pending ON host_commands (id) WHERE state = 'pending';
CREATE INDEX host_commands_card ON host_commands (card_id);

-- Who asked and when are the session's, never the client's; a command is decided once, by the
-- host, and never edited or deleted.
CREATE FUNCTION host_commands_guard() RETURNS trigger
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
       OR NEW.approval_id IS DISTINCT FROM OLD.approval_id
       OR NEW.requested_by IS DISTINCT FROM OLD.requested_by
       OR NEW.requested_at IS DISTINCT FROM OLD.requested_at THEN
        RAISE EXCEPTION 'a host command is carried out or refused, never edited'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER host_commands_guard BEFORE INSERT OR UPDATE ON host_commands
    FOR EACH ROW EXECUTE FUNCTION host_commands_guard();
CREATE TRIGGER host_commands_kept BEFORE DELETE OR TRUNCATE ON host_commands
    FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();

-- HQ admins (through jifen_back_office) and card service make commands (card service only
-- replacements in its own right: the host refuses any other kind without an approval);
-- the host decides them; auditors read them (jifen_audit, by default).
GRANT SELECT, INSERT (kind, payload, card_id, other_card_id, approval_id) ON host_commands
    TO jifen_back_office, jifen_op_card_service;
GRANT SELECT, UPDATE (state, result_code, result, transaction_id, done_at) ON host_commands
    TO jifen_host;
GRANT SELECT ON approval_requests TO jifen_host;
-- A replaced or closed card is closed by the host, in the commit that moves its balances.
GRANT UPDATE (status) ON cards TO jifen_host;

-- A transaction comes from a terminal (its message's keys) or from a back-office command.
ALTER TABLE transactions
    ALTER COLUMN terminal_code DROP NOT NULL,
    ALTER COLUMN merchant_id DROP NOT NULL,
    ALTER COLUMN mti DROP NOT NULL,
    ALTER COLUMN stan DROP NOT NULL,
    ALTER COLUMN transmission_time DROP NOT NULL,
    ADD COLUMN command_id bigint REFERENCES host_commands;
-- One transaction per command. Partial: the terminals' transactions (all of them but a few)
-- add nothing to this index (a full one cost about 8 µs of PostgreSQL per request).
CREATE UNIQUE INDEX transactions_command_id ON transactions (command_id)
    WHERE command_id IS NOT NULL;
ALTER TABLE transactions ADD CONSTRAINT transactions_from_a_terminal_or_a_command CHECK (
    (command_id IS NULL AND terminal_code IS NOT NULL AND merchant_id IS NOT NULL
        AND mti IS NOT NULL AND stan IS NOT NULL AND transmission_time IS NOT NULL)
    OR (command_id IS NOT NULL AND terminal_code IS NULL AND merchant_id IS NULL
        AND mti IS NULL AND stan IS NULL AND transmission_time IS NULL AND rrn IS NULL)
) NOT VALID;
ALTER TABLE transactions VALIDATE CONSTRAINT transactions_from_a_terminal_or_a_command;
ALTER TABLE host_commands ADD CONSTRAINT host_commands_transaction
    FOREIGN KEY (transaction_id) REFERENCES transactions;

-- The alliance's side of a back-office change: adjustments in each ledger, and stored value
-- paid out to a member whose card was closed (points forfeited go to alliance_breakage); and
-- of the loyalty programme's own postings: bonuses (joining, referrals: migration 023) and the
-- lottery's stakes and prizes (migration 024).
ALTER TABLE accounts DROP CONSTRAINT accounts_chart;
ALTER TABLE accounts ADD CONSTRAINT accounts_chart CHECK (
    (ledger = 'points' AND kind = 'member_points'
        AND card_id IS NOT NULL AND merchant_id IS NULL AND alliance_id IS NULL)
    OR (ledger = 'points' AND kind IN ('merchant_points_issued', 'merchant_points_redeemed')
        AND card_id IS NULL AND merchant_id IS NOT NULL AND alliance_id IS NULL)
    OR (ledger = 'points'
        AND kind IN ('alliance_points_exchanged', 'alliance_breakage', 'alliance_points_adjusted',
                     'alliance_points_bonus', 'alliance_points_lottery')
        AND card_id IS NULL AND merchant_id IS NULL AND alliance_id IS NOT NULL)
    OR (ledger = 'money' AND kind = 'member_stored_value'
        AND card_id IS NOT NULL AND merchant_id IS NULL AND alliance_id IS NULL)
    OR (ledger = 'money'
        AND kind IN ('merchant_stored_value_loaded', 'merchant_stored_value_spent')
        AND card_id IS NULL AND merchant_id IS NOT NULL AND alliance_id IS NULL)
    OR (ledger = 'money'
        AND kind IN ('alliance_stored_value_exchange', 'alliance_stored_value_adjusted',
                     'alliance_stored_value_refunded')
        AND card_id IS NULL AND merchant_id IS NULL AND alliance_id IS NOT NULL)
);

-- Whether members may give each other points (a transfer between two cards of the alliance).
ALTER TABLE alliances ADD COLUMN points_transfer_allowed boolean NOT NULL DEFAULT false;
