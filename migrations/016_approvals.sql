-- Second-person approval (maker-checker; docs/back-office.md, "Approvals").
--
-- Some back-office changes are requests: one operator asks, another approves or rejects, and
-- only an approval carries the change out, in the same transaction. The database, not only the
-- CLI, holds the rule that nobody approves their own request: who asked and who decided are the
-- login roles of the two sessions (session_user, set here, never taken from the client), and a
-- trigger refuses a decision by the maker and any change of a decided request.

CREATE TABLE approval_requests (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action         text NOT NULL CHECK (action ~ '^[a-z_]{1,40}$'),
    -- What it is about, for people: masked (a card as 622188******0018), never a secret.
    subject        text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    -- The action's arguments: ids and amounts, never a clear card number or password.
    payload        jsonb NOT NULL,
    state          text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),
    requested_by   text NOT NULL DEFAULT session_user,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    decided_by     text,
    decided_at     timestamptz,
    note           text CHECK (length(note) <= 500),
    result         text CHECK (length(result) <= 500),
    CHECK (expires_at > requested_at),
    CHECK ((state = 'pending') = (decided_at IS NULL)),
    CHECK (decided_by IS NULL OR decided_by <> requested_by)
);
CREATE INDEX approval_requests_pending ON approval_requests (requested_at) WHERE state = 'pending';

CREATE FUNCTION approval_requests_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.requested_by := session_user;
        NEW.requested_at := now();
        NEW.state := 'pending';
        NEW.decided_by := NULL;
        NEW.decided_at := NULL;
        RETURN NEW;
    END IF;
    IF OLD.state <> 'pending' THEN
        RAISE EXCEPTION 'approval request % is % already', OLD.id, OLD.state
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.action IS DISTINCT FROM OLD.action OR NEW.payload IS DISTINCT FROM OLD.payload
       OR NEW.subject IS DISTINCT FROM OLD.subject
       OR NEW.requested_by IS DISTINCT FROM OLD.requested_by
       OR NEW.requested_at IS DISTINCT FROM OLD.requested_at
       OR NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
        RAISE EXCEPTION 'an approval request is decided, never edited'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.decided_at := now();
    IF NEW.state = 'expired' THEN
        NEW.decided_by := NULL;
        IF OLD.expires_at > now() THEN
            RAISE EXCEPTION 'approval request % has not expired yet', OLD.id
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    NEW.decided_by := session_user;
    IF NEW.decided_by = OLD.requested_by THEN
        RAISE EXCEPTION 'nobody approves or rejects their own request (%)', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.state = 'approved' AND OLD.expires_at <= now() THEN
        RAISE EXCEPTION 'approval request % expired at %', OLD.id, OLD.expires_at
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER approval_requests_guard BEFORE INSERT OR UPDATE ON approval_requests
    FOR EACH ROW EXECUTE FUNCTION approval_requests_guard();
CREATE TRIGGER approval_requests_kept BEFORE DELETE OR TRUNCATE ON approval_requests
    FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();

-- HQ admins through jifen_back_office; card service in its own right; auditors read (jifen_audit).
GRANT SELECT, INSERT ON approval_requests TO jifen_back_office, jifen_op_card_service;
GRANT UPDATE (state, note, result, decided_by, decided_at) ON approval_requests
    TO jifen_back_office, jifen_op_card_service;
