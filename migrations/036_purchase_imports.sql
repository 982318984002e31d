-- Merchants' period-end purchase files (期末商户文件导入; docs/back-office.md, "Importing
-- purchases"). `jifen import purchases --merchant M FILE.csv` checks each line, then writes
-- one host command per good line (kind imported_purchase): the account host, the only writer
-- of balances, posts it as an advice from the merchant's virtual terminal with the merchant's
-- earn rules, in a group commit like a terminal's request.
--
-- Idempotent for ever by (merchant, line id): the unique index below refuses a second command
-- for a line already imported, so the same file twice posts nothing new (the 7-day
-- retransmission window plays no part).

-- The virtual terminal: one per merchant that imports, code 'I' and the merchant's id in 7
-- digits. It never signs on: the front and the host do not load virtual terminals (a request
-- naming one over TCP answers 58); the host posts imported purchases from it itself.
ALTER TABLE terminals ADD COLUMN virtual boolean NOT NULL DEFAULT false;
ALTER TABLE terminals ADD CONSTRAINT terminals_virtual_code CHECK (
    NOT virtual OR (merchant_id < 10000000
                    AND terminal_code = 'I' || lpad(merchant_id::text, 7, '0')));
CREATE UNIQUE INDEX terminals_virtual_of_merchant ON terminals (merchant_id) WHERE virtual;
GRANT SELECT (virtual) ON terminals TO jifen_host, jifen_clearing;

-- An imported purchase carries its merchant and line id on the command row.
ALTER TABLE host_commands DROP CONSTRAINT host_commands_kind_check;
ALTER TABLE host_commands ADD CONSTRAINT host_commands_kind_check CHECK (
    kind IN ('points_adjustment', 'stored_value_adjustment', 'points_transfer',
             'card_replacement', 'card_closure', 'join_bonus', 'gift_restock',
             'gift_withdrawal', 'points_expiry', 'tier_review', 'imported_purchase'));
ALTER TABLE host_commands
    ADD COLUMN import_merchant_id integer REFERENCES merchants,
    ADD COLUMN import_line_id text CHECK (import_line_id ~ '^[A-Za-z0-9._/-]{1,40}$'),
    ADD CONSTRAINT host_commands_imported_line CHECK (
        (kind = 'imported_purchase')
            = (import_merchant_id IS NOT NULL AND import_line_id IS NOT NULL)
        AND (import_merchant_id IS NULL) = (import_line_id IS NULL));
-- The idempotency key: a line of a merchant is imported once, whatever file it comes in.
CREATE UNIQUE INDEX host_commands_import_line ON host_commands (import_merchant_id, import_line_id)
    WHERE import_line_id IS NOT NULL;
GRANT INSERT (import_merchant_id, import_line_id) ON host_commands TO jifen_back_office;

-- An imported purchase's transaction is a command's (command_id) and a terminal's: its
-- virtual terminal, merchant, MTI 0220, STAN, field 7 and RRN, like an advice's, so that
-- clearing, statements and a later return (by its RRN) see it as any purchase. The other
-- branches are 025's, unchanged.
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
    OR (command_id IS NOT NULL AND kind = 'offline_purchase' AND terminal_code LIKE 'I%'
        AND merchant_id IS NOT NULL AND mti = '0220' AND stan IS NOT NULL
        AND transmission_time IS NOT NULL AND rrn IS NOT NULL)
) NOT VALID;
ALTER TABLE transactions VALIDATE CONSTRAINT transactions_from_a_terminal_or_a_command;

-- Import runs and their lines: the report of each run (posted, duplicate, rejected with the
-- reason or the host's response code), kept for the merchant and for audit.
CREATE TABLE purchase_import_runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id   integer NOT NULL REFERENCES merchants,
    file_name     text NOT NULL CHECK (length(file_name) <= 200),
    file_sha256   bytea NOT NULL CHECK (length(file_sha256) = 32),
    started_by    text NOT NULL DEFAULT session_user,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    lines         integer NOT NULL CHECK (lines >= 0),
    posted        integer CHECK (posted >= 0),
    duplicate     integer CHECK (duplicate >= 0),
    rejected      integer CHECK (rejected >= 0),
    pending       integer CHECK (pending >= 0),
    CHECK ((finished_at IS NULL) = (posted IS NULL))
);
CREATE INDEX purchase_import_runs_merchant ON purchase_import_runs (merchant_id, started_at);

CREATE TABLE purchase_import_lines (
    run_id        bigint NOT NULL REFERENCES purchase_import_runs,
    line_number   integer NOT NULL CHECK (line_number >= 1),   -- in the file, header = 1
    line_id       text,
    outcome       text NOT NULL
                  CHECK (outcome IN ('posted', 'duplicate', 'rejected', 'pending')),
    result_code   text CHECK (result_code ~ '^[0-9A-Z]{2}$'),
    reason        text CHECK (length(reason) <= 200),
    command_id    bigint REFERENCES host_commands,
    PRIMARY KEY (run_id, line_number)
);
CREATE INDEX purchase_import_lines_command ON purchase_import_lines (command_id)
    WHERE command_id IS NOT NULL;

-- Who started a run is the session's, never the client's.
CREATE FUNCTION purchase_import_runs_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.started_by := session_user;
        NEW.started_at := now();
    ELSIF OLD.finished_at IS NOT NULL THEN
        RAISE EXCEPTION 'import run % is finished', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER purchase_import_runs_guard BEFORE INSERT OR UPDATE ON purchase_import_runs
    FOR EACH ROW EXECUTE FUNCTION purchase_import_runs_guard();
CREATE TRIGGER purchase_import_lines_kept BEFORE UPDATE OR DELETE OR TRUNCATE
    ON purchase_import_lines FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();

-- The back office (and HQ admins, who inherit it) imports; auditors read.
REVOKE ALL ON purchase_import_runs, purchase_import_lines FROM PUBLIC;
GRANT SELECT, INSERT (merchant_id, file_name, file_sha256, lines),
    UPDATE (finished_at, posted, duplicate, rejected, pending)
    ON purchase_import_runs TO jifen_back_office;
GRANT SELECT, INSERT ON purchase_import_lines TO jifen_back_office;
GRANT SELECT ON purchase_import_runs, purchase_import_lines TO jifen_audit;

-- A merchant admin imports its own merchant's files, and no other's (docs/back-office.md,
-- "Importing purchases"). It writes nothing directly: these functions do each step of a run
-- with the back office's rights (they are owned by jifen_back_office), after checking that
-- the session's login is the back office (or an HQ admin, its member) or an active merchant
-- admin of that very merchant. They are the one path of `jifen import purchases`, for HQ as
-- for merchants. The host checks each command again (its merchant, card and amounts). To
-- hash the file's card numbers the merchant admin reads the pan_lookup key (migration 017
-- gave it, for statements) and the card ranges; it learns only which hashes are cards of its
-- own alliance.
GRANT SELECT ON card_ranges TO jifen_op_merchant_admin;

CREATE FUNCTION purchase_import_allowed(p_merchant integer) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_has_role(session_user, 'jifen_back_office', 'MEMBER')
       OR EXISTS (SELECT 1 FROM public.operators o
                  WHERE o.name = session_user AND o.active AND o.role = 'merchant_admin'
                    AND o.merchant_id = p_merchant) THEN
        RETURN;
    END IF;
    RAISE EXCEPTION 'only HQ, or a merchant admin for its own merchant, imports a merchant''s'
                    ' purchases' USING ERRCODE = 'insufficient_privilege';
END
$$;

-- The cards of the merchant's alliance among these hashes.
CREATE FUNCTION purchase_import_cards(p_merchant integer, p_hashes bytea[])
RETURNS TABLE (pan_hmac bytea, card_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT public.purchase_import_allowed(p_merchant);
    SELECT c.pan_hmac, c.id FROM public.cards c
    WHERE c.pan_hmac = ANY (p_hashes)
      AND c.alliance_id = (SELECT m.alliance_id FROM public.merchants m WHERE m.id = p_merchant);
$$;

-- The run's row, and the merchant's virtual terminal if it has none yet.
CREATE FUNCTION purchase_import_start(p_merchant integer, p_file text, p_sha256 bytea,
                                      p_lines integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_code text := 'I' || lpad(p_merchant::text, 7, '0');
    v_run bigint;
BEGIN
    PERFORM public.purchase_import_allowed(p_merchant);
    INSERT INTO public.terminals (terminal_code, merchant_id, requires_mac, virtual)
    VALUES (v_code, p_merchant, false, true) ON CONFLICT DO NOTHING;
    IF NOT EXISTS (SELECT 1 FROM public.terminals t
                   WHERE t.terminal_code = v_code AND t.virtual AND t.merchant_id = p_merchant)
    THEN
        RAISE EXCEPTION 'terminal % is a real terminal: the merchant''s virtual terminal needs'
                        ' its code', v_code USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO public.purchase_import_runs (merchant_id, file_name, file_sha256, lines)
    VALUES (p_merchant, p_file, p_sha256, p_lines) RETURNING id INTO v_run;
    RETURN v_run;
END
$$;

-- The merchant of run p_run, which must still be open and the caller's to write.
CREATE FUNCTION purchase_import_open_run(p_run bigint) RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_merchant integer;
BEGIN
    SELECT r.merchant_id INTO v_merchant FROM public.purchase_import_runs r
    WHERE r.id = p_run AND r.finished_at IS NULL;
    IF v_merchant IS NULL THEN
        RAISE EXCEPTION 'import run % is not open', p_run USING ERRCODE = 'check_violation';
    END IF;
    PERFORM public.purchase_import_allowed(v_merchant);
    RETURN v_merchant;
END
$$;

-- One chunk of a run's commands; a line whose (merchant, line id) has a command makes none.
CREATE FUNCTION purchase_import_submit(p_run bigint, p_payloads text[], p_cards bigint[],
                                       p_line_ids text[])
RETURNS TABLE (made_id bigint, made_line_id text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_merchant integer;
BEGIN
    v_merchant := public.purchase_import_open_run(p_run);
    RETURN QUERY
    WITH made AS (
        INSERT INTO public.host_commands (kind, payload, card_id, import_merchant_id,
                                          import_line_id)
        SELECT 'imported_purchase', u.payload::jsonb, u.card_id, v_merchant, u.line_id
        FROM unnest(p_payloads, p_cards, p_line_ids) WITH ORDINALITY
             AS u(payload, card_id, line_id, n)
        ORDER BY u.n
        ON CONFLICT (import_merchant_id, import_line_id) WHERE import_line_id IS NOT NULL
            DO NOTHING
        RETURNING id, import_line_id)
    SELECT made.id, made.import_line_id FROM made;
END
$$;

-- What became of lines the merchant imported before.
CREATE FUNCTION purchase_import_earlier(p_merchant integer, p_line_ids text[])
RETURNS TABLE (line_id text, command_id bigint, state text, result_code text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT public.purchase_import_allowed(p_merchant);
    SELECT h.import_line_id, h.id, h.state, h.result_code FROM public.host_commands h
    WHERE h.import_merchant_id = p_merchant AND h.import_line_id = ANY (p_line_ids);
$$;

-- The merchant's imported purchases among ids low..high that the host has not decided.
CREATE FUNCTION purchase_import_pending(p_merchant integer, p_low bigint, p_high bigint)
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT public.purchase_import_allowed(p_merchant);
    SELECT count(*) FROM public.host_commands h
    WHERE h.state = 'pending' AND h.id BETWEEN p_low AND p_high
      AND h.import_merchant_id = p_merchant;
$$;

CREATE FUNCTION purchase_import_outcomes(p_merchant integer, p_ids bigint[])
RETURNS TABLE (id bigint, state text, result_code text, result text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT public.purchase_import_allowed(p_merchant);
    SELECT h.id, h.state, h.result_code, h.result FROM public.host_commands h
    WHERE h.id = ANY (p_ids) AND h.import_merchant_id = p_merchant;
$$;

-- Every line's result kept, the run's counts, and its audit row (the session's login as the
-- actor, by audit_log's default).
CREATE FUNCTION purchase_import_finish(
    p_run bigint, p_numbers integer[], p_line_ids text[], p_outcomes text[], p_codes text[],
    p_reasons text[], p_commands bigint[], p_posted integer, p_duplicate integer,
    p_rejected integer, p_pending integer, p_audit jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_merchant integer;
BEGIN
    v_merchant := public.purchase_import_open_run(p_run);
    INSERT INTO public.purchase_import_lines (run_id, line_number, line_id, outcome,
                                              result_code, reason, command_id)
    SELECT p_run, u.n, u.line_id, u.outcome, u.code, u.reason, u.command_id
    FROM unnest(p_numbers, p_line_ids, p_outcomes, p_codes, p_reasons, p_commands)
         AS u(n, line_id, outcome, code, reason, command_id);
    UPDATE public.purchase_import_runs
    SET finished_at = now(), posted = p_posted, duplicate = p_duplicate,
        rejected = p_rejected, pending = p_pending
    WHERE id = p_run;
    INSERT INTO public.audit_log (action, object_kind, object_key, merchant_id, after)
    SELECT 'purchase_import.run', 'merchant', m.merchant_code, m.id, p_audit
    FROM public.merchants m WHERE m.id = v_merchant;
END
$$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'purchase_import_allowed(integer)', 'purchase_import_open_run(bigint)',
        'purchase_import_cards(integer, bytea[])',
        'purchase_import_start(integer, text, bytea, integer)',
        'purchase_import_submit(bigint, text[], bigint[], text[])',
        'purchase_import_earlier(integer, text[])',
        'purchase_import_pending(integer, bigint, bigint)',
        'purchase_import_outcomes(integer, bigint[])',
        'purchase_import_finish(bigint, integer[], text[], text[], text[], text[], bigint[],'
        ' integer, integer, integer, integer, jsonb)']
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO jifen_back_office', f);
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO jifen_back_office,'
                       ' jifen_op_merchant_admin', f);
    END LOOP;
END
$$;
