-- Transfers between partitions (docs/plans/partitions.md §5, step 7; docs/transfers.md). Points
-- given by a card of one partition to a card of another move in durable steps, each a host
-- command decided once by the partition's own host: the debit (the giver's points into the
-- alliance's in-transit account of the source), the credit (out of the destination's in-transit
-- account to the taker), or, when the credit is refused, the void (back to the giver). Every
-- step posts in one partition and sums to zero there; the in-transit accounts of a finished
-- transfer's two partitions cancel (`jifen audit`'s transit_unbalanced). No holds: available
-- stays equal to ledger.

-- The alliance's in-transit accounts, one per partition and ledger (stored value's for a
-- replacement into another range, step 8).
ALTER TABLE accounts DROP CONSTRAINT accounts_chart;
ALTER TABLE accounts ADD CONSTRAINT accounts_chart CHECK (
    (ledger = 'points' AND kind = 'member_points'
        AND card_id IS NOT NULL AND merchant_id IS NULL AND alliance_id IS NULL)
    OR (ledger = 'points' AND kind IN ('merchant_points_issued', 'merchant_points_redeemed')
        AND card_id IS NULL AND merchant_id IS NOT NULL AND alliance_id IS NULL)
    OR (ledger = 'points'
        AND kind IN ('alliance_points_exchanged', 'alliance_breakage', 'alliance_points_adjusted',
                     'alliance_points_bonus', 'alliance_points_lottery',
                     'alliance_points_in_transit')
        AND card_id IS NULL AND merchant_id IS NULL AND alliance_id IS NOT NULL)
    OR (ledger = 'money' AND kind = 'member_stored_value'
        AND card_id IS NOT NULL AND merchant_id IS NULL AND alliance_id IS NULL)
    OR (ledger = 'money'
        AND kind IN ('merchant_stored_value_loaded', 'merchant_stored_value_spent')
        AND card_id IS NULL AND merchant_id IS NOT NULL AND alliance_id IS NULL)
    OR (ledger = 'money'
        AND kind IN ('alliance_stored_value_exchange', 'alliance_stored_value_adjusted',
                     'alliance_stored_value_refunded', 'alliance_stored_value_in_transit')
        AND card_id IS NULL AND merchant_id IS NULL AND alliance_id IS NOT NULL)
);

-- A transfer's steps are host commands naming their transfer and step: the unique index makes
-- a step impossible to issue twice, whoever writes it. The debit and the void act on the giver
-- (card_id), the credit on the taker (card_id; the giver is other_card_id); all three carry the
-- approved request's payload unchanged, so that each host checks its step against it.
ALTER TABLE host_commands DROP CONSTRAINT host_commands_kind_check;
ALTER TABLE host_commands ADD CONSTRAINT host_commands_kind_check CHECK (
    kind IN ('points_adjustment', 'stored_value_adjustment', 'points_transfer',
             'card_replacement', 'card_closure', 'join_bonus', 'gift_restock',
             'gift_withdrawal', 'points_expiry', 'tier_review', 'imported_purchase',
             'transit_debit', 'transit_credit', 'transit_void'));
ALTER TABLE host_commands
    ADD COLUMN transfer_id bigint,
    ADD COLUMN transfer_step text CHECK (transfer_step IN ('debit', 'credit', 'void')),
    -- What the debit took, for the credit and the void (proto/transit.py Carried), folded
    -- from the debit's outcome.
    ADD COLUMN carried bytea CHECK (length(carried) <= 65536),
    ADD CONSTRAINT host_commands_transit_step CHECK (
        (transfer_id IS NULL) = (transfer_step IS NULL)
        AND (transfer_step IS NULL) = (kind NOT LIKE 'transit\_%')
        AND (transfer_step IS NULL OR kind = 'transit_' || transfer_step));
CREATE UNIQUE INDEX host_commands_transfer_step ON host_commands (transfer_id, transfer_step)
    WHERE transfer_id IS NOT NULL;
GRANT INSERT (transfer_id, transfer_step) ON host_commands TO jifen_back_office;

-- The debit's outcome carries what it took (its points and lots), written by the host in the
-- statement of its postings, and folded into the command's row like the rest of the outcome;
-- from there it replicates to the destination, whose host reads it with the credit.
ALTER TABLE command_outcomes ADD COLUMN carried bytea CHECK (length(carried) <= 65536);

CREATE OR REPLACE FUNCTION command_outcomes_fold() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    transfer bigint;
BEGIN
    UPDATE public.host_commands
    SET state = NEW.state, result_code = NEW.result_code, result = NEW.result,
        transaction_id = NEW.transaction_id, done_at = NEW.done_at, carried = NEW.carried
    WHERE id = NEW.command_id
    RETURNING transfer_id INTO transfer;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'an outcome of command %, which does not exist', NEW.command_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- A transfer's step decided: the driver (back_office/transit/) takes the next one.
    IF transfer IS NOT NULL THEN
        PERFORM pg_notify('jifen_changes', 'host_commands');
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION command_outcomes_fold() FROM PUBLIC;

-- A replacement's void reopens the old card as it was (a lost card replaced stays lost): its
-- status change is written by the host like the closure it undoes.
ALTER TABLE card_status_changes DROP CONSTRAINT card_status_changes_status_check;
ALTER TABLE card_status_changes ADD CONSTRAINT card_status_changes_status_check
    CHECK (status IN ('active', 'inactive', 'lost', 'stolen', 'blocked', 'closed'));

-- A transfer between partitions, on central only: its state moves one transition per
-- transaction of the driver (back_office/transit/states.py has the table), each on a step's
-- outcome, never on a timeout.
CREATE TABLE transfers (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- points_transfer: `points` from one card to another; card_replacement: every balance of
    -- the old card (from_card) to the new one (to_card), the old closed, with the member's
    -- tier standing and the points' lots (its amounts are the debit's, 0 here).
    kind           text NOT NULL CHECK (kind IN ('points_transfer', 'card_replacement')),
    alliance_id    integer NOT NULL REFERENCES alliances,
    from_card_id   bigint NOT NULL REFERENCES cards,
    to_card_id     bigint NOT NULL REFERENCES cards CHECK (to_card_id <> from_card_id),
    source         text NOT NULL REFERENCES partitions ON UPDATE CASCADE,
    destination    text NOT NULL REFERENCES partitions ON UPDATE CASCADE
                   CHECK (destination <> source),
    points         bigint NOT NULL CHECK (points >= 0),
    stored_value_fen bigint NOT NULL CHECK (stored_value_fen >= 0),
    -- The approved request's payload (proto.host_commands.CommandPayload), copied into each
    -- step's command.
    payload        jsonb NOT NULL,
    approval_id    bigint UNIQUE REFERENCES approval_requests,
    state          text NOT NULL DEFAULT 'requested' CHECK (state IN (
                       'requested', 'debiting', 'debited', 'crediting', 'voiding',
                       'refused', 'credited', 'voided', 'stuck')),
    -- The step whose outcome ended it: its code and text (NULL while open).
    result_code    text CHECK (result_code ~ '^[0-9A-Z]{2}$'),
    result         text CHECK (length(result) <= 200),
    requested_by   text NOT NULL DEFAULT session_user,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((state IN ('refused', 'credited', 'voided', 'stuck')) = (result_code IS NOT NULL))
);
-- The driver reads the open ones, oldest first, and counts the stuck ones.
CREATE INDEX transfers_open ON transfers (id) WHERE state NOT IN ('refused', 'credited', 'voided');
CREATE INDEX transfers_from_card ON transfers (from_card_id);
CREATE INDEX transfers_to_card ON transfers (to_card_id);

-- Who asked is the session's; a transfer is never deleted (its steps' commands are history).
CREATE FUNCTION transfers_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.requested_by := session_user;
        NEW.requested_at := now();
        NEW.updated_at := now();
        NEW.state := 'requested';
        NEW.result_code := NULL;
        NEW.result := NULL;
        RETURN NEW;
    END IF;
    IF OLD.state IN ('refused', 'credited', 'voided') THEN
        RAISE EXCEPTION 'transfer % is % already', OLD.id, OLD.state
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.kind IS DISTINCT FROM OLD.kind OR NEW.payload IS DISTINCT FROM OLD.payload
       OR NEW.from_card_id IS DISTINCT FROM OLD.from_card_id
       OR NEW.to_card_id IS DISTINCT FROM OLD.to_card_id
       OR NEW.source IS DISTINCT FROM OLD.source
       OR NEW.destination IS DISTINCT FROM OLD.destination
       OR NEW.points IS DISTINCT FROM OLD.points
       OR NEW.stored_value_fen IS DISTINCT FROM OLD.stored_value_fen
       OR NEW.approval_id IS DISTINCT FROM OLD.approval_id
       OR NEW.requested_by IS DISTINCT FROM OLD.requested_by
       OR NEW.requested_at IS DISTINCT FROM OLD.requested_at THEN
        RAISE EXCEPTION 'a transfer moves through its states, never edited'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER transfers_guard BEFORE INSERT OR UPDATE ON transfers
    FOR EACH ROW EXECUTE FUNCTION transfers_guard();
CREATE TRIGGER transfers_kept BEFORE DELETE OR TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();

-- The approval writes a transfer (as HQ admin, through jifen_back_office), as a replacement does
-- (card service); the driver, logged in as jifen_back_office, moves its state and writes its
-- steps' commands. Auditors read it (jifen_audit, by default privileges).
GRANT SELECT, INSERT (kind, alliance_id, from_card_id, to_card_id, source, destination, points,
                      stored_value_fen, payload, approval_id) ON transfers TO jifen_back_office;
-- Card service replaces cards at the counter in its own right (migration 018): into another
-- partition's range, a transfer of its own, and the steps' columns of its command.
GRANT SELECT, INSERT (kind, alliance_id, from_card_id, to_card_id, source, destination, points,
                      stored_value_fen, payload, approval_id) ON transfers
    TO jifen_op_card_service;
GRANT UPDATE (state, result_code, result) ON transfers TO jifen_back_office;
GRANT SELECT ON transfers TO jifen_audit;
