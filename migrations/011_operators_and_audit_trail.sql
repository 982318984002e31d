-- Operators with roles, and the audit trail (docs/back-office.md; docs/security.md, "Database
-- (least privilege)").
--
-- Each operator role is a NOLOGIN group role holding only its grants; each operator is a
-- LOGIN role (scram-sha-256) of the same name, member of one of them, made by the functions
-- below (never by hand: the `operators` table must list every one). The CLI's check of a
-- command gives the friendly message; these grants and policies are the guarantee, also for
-- someone who connects with the operator's password and psql.
--
-- Roles are cluster-wide: created here if missing, as in 006_roles.sql.

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['jifen_op_hq_admin', 'jifen_op_card_service',
                                     'jifen_op_merchant_admin', 'jifen_op_clearing',
                                     'jifen_op_auditor', 'jifen_operator_admin']
    LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END LOOP;
END
$$;

-- jifen_operator_admin owns the functions that create, enable, disable operators and set their
-- passwords: it may create roles (CREATEROLE; since PostgreSQL 16 it may then only alter the
-- roles it created, and grant only the groups it holds with ADMIN OPTION), and it inherits
-- nothing from the groups it administers. Nobody logs in as it.
ALTER ROLE jifen_operator_admin NOLOGIN CREATEROLE;
DO $$
BEGIN
    GRANT jifen_op_hq_admin, jifen_op_card_service, jifen_op_merchant_admin,
        jifen_op_clearing, jifen_op_auditor
        TO jifen_operator_admin WITH ADMIN OPTION, INHERIT FALSE, SET FALSE;
-- Another database's migration granted it meanwhile (roles are the cluster's).
EXCEPTION WHEN internal_error OR unique_violation THEN NULL;
END
$$;
GRANT USAGE ON SCHEMA public TO jifen_op_hq_admin, jifen_op_card_service,
    jifen_op_merchant_admin, jifen_op_clearing, jifen_op_auditor, jifen_operator_admin;

-- The operators. `name` is also the login role's name.
CREATE TABLE operators (
    name         text PRIMARY KEY
                 CHECK (name ~ '^[a-z][a-z0-9_]{2,39}$' AND name !~ '^(jifen|pg_|postgres)'),
    role         text NOT NULL CHECK (role IN ('hq_admin', 'card_service', 'merchant_admin',
                                               'clearing', 'auditor')),
    merchant_id  integer REFERENCES merchants,     -- a merchant admin's merchant, else NULL
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL DEFAULT session_user,
    password_changed_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'merchant_admin') = (merchant_id IS NOT NULL))
);

-- The audit trail: one row per back-office change, written in the change's own transaction.
-- `actor` and `at` are the server's (no role may INSERT them: the column grants below leave
-- them out). `request_id` ties a row to a later maker-checker request (its request, approval
-- or rejection). Nothing sensitive goes in: a card is its masked PAN, a key or a password
-- never appears (back_office/audit_trail/masking.py).
CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL DEFAULT session_user,
    action       text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    object_kind  text NOT NULL CHECK (object_kind ~ '^[a-z_]+$'),
    object_key   text NOT NULL,
    merchant_id  integer REFERENCES merchants,
    before       jsonb,
    after        jsonb,
    request_id   bigint
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor_at ON audit_log (actor, at);
CREATE INDEX audit_log_object_at ON audit_log (object_kind, object_key, at);
CREATE INDEX audit_log_merchant_at ON audit_log (merchant_id, at) WHERE merchant_id IS NOT NULL;
CREATE INDEX audit_log_request ON audit_log (request_id) WHERE request_id IS NOT NULL;

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'a correction is a new row';
END
$$;
REVOKE ALL ON FUNCTION audit_log_is_append_only() FROM PUBLIC;
-- Statement level, as the journal's: it fires even when no row matches, and for the owner.
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- A merchant admin's merchant: looked up by the login the server authenticated
-- (current_user), never from a session setting, which the session could SET itself. A
-- merchant admin who SET ROLEs to the group role has no row here and sees nothing. Invoker's
-- rights: the caller reads its own row of `operators` (policy operators_self).
CREATE FUNCTION operator_merchant_id() RETURNS integer
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT merchant_id FROM public.operators WHERE name = current_user AND active
$$;

-- Row-level security: a merchant admin reads only its merchant's rows. Every other role that
-- reads these tables gets a policy that passes all rows (a role without one would see none:
-- a role added later needs its own).
ALTER TABLE merchants ENABLE ROW LEVEL SECURITY;
ALTER TABLE terminals ENABLE ROW LEVEL SECURITY;
ALTER TABLE settlement_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE operators ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY merchants_all ON merchants TO jifen_host, jifen_front, jifen_switch,
    jifen_clearing, jifen_back_office, jifen_audit, jifen_op_hq_admin, jifen_op_card_service,
    jifen_op_clearing, jifen_op_auditor, jifen_operator_admin USING (true) WITH CHECK (true);
CREATE POLICY merchants_own ON merchants FOR SELECT TO jifen_op_merchant_admin
    USING (id = (SELECT operator_merchant_id()));
CREATE POLICY terminals_all ON terminals TO jifen_host, jifen_front, jifen_switch,
    jifen_clearing, jifen_back_office, jifen_audit, jifen_op_hq_admin, jifen_op_card_service,
    jifen_op_clearing, jifen_op_auditor USING (true) WITH CHECK (true);
CREATE POLICY terminals_own ON terminals FOR SELECT TO jifen_op_merchant_admin
    USING (merchant_id = (SELECT operator_merchant_id()));
CREATE POLICY settlement_rules_all ON settlement_rules TO jifen_host, jifen_front,
    jifen_switch, jifen_clearing, jifen_back_office, jifen_audit, jifen_op_hq_admin,
    jifen_op_card_service, jifen_op_clearing, jifen_op_auditor USING (true) WITH CHECK (true);
-- Its own rules, and its alliance's defaults (which price its days when it has none).
CREATE POLICY settlement_rules_own ON settlement_rules FOR SELECT TO jifen_op_merchant_admin
    USING (merchant_id = (SELECT operator_merchant_id())
           OR (merchant_id IS NULL AND alliance_id = (
               SELECT alliance_id FROM merchants WHERE id = (SELECT operator_merchant_id()))));

CREATE POLICY operators_all ON operators FOR SELECT TO jifen_back_office, jifen_audit,
    jifen_op_hq_admin, jifen_op_auditor USING (true);
CREATE POLICY operators_self ON operators FOR SELECT TO PUBLIC USING (name = current_user);
CREATE POLICY operators_admin ON operators TO jifen_operator_admin USING (true)
    WITH CHECK (true);

CREATE POLICY audit_log_write ON audit_log FOR INSERT TO PUBLIC
    WITH CHECK (actor = session_user);
CREATE POLICY audit_log_all ON audit_log FOR SELECT TO jifen_back_office, jifen_audit,
    jifen_op_hq_admin, jifen_op_auditor USING (true);
CREATE POLICY audit_log_own ON audit_log FOR SELECT TO jifen_op_merchant_admin
    USING (merchant_id = (SELECT operator_merchant_id()));

-- Who may write an audit row: whoever makes a back-office change. Never `actor` nor `at`.
REVOKE ALL ON operators, audit_log FROM PUBLIC;
GRANT INSERT (action, object_kind, object_key, merchant_id, before, after, request_id)
    ON audit_log TO jifen_back_office, jifen_op_hq_admin, jifen_op_card_service,
    jifen_op_clearing, jifen_operator_admin;
GRANT SELECT ON audit_log TO jifen_back_office, jifen_audit, jifen_op_hq_admin,
    jifen_op_merchant_admin, jifen_op_auditor;
GRANT SELECT ON operators TO jifen_back_office, jifen_audit, jifen_op_hq_admin,
    jifen_op_card_service, jifen_op_merchant_admin, jifen_op_clearing, jifen_op_auditor;
GRANT SELECT, INSERT, UPDATE ON operators TO jifen_operator_admin;
GRANT SELECT (id, merchant_code) ON merchants TO jifen_operator_admin;

-- HQ admin: what the back office's provisioning does (it inherits jifen_back_office's grants
-- and its data_keys policy: the card keys), and manages operators (functions below).
GRANT jifen_back_office TO jifen_op_hq_admin;
-- Card service: issues cards and changes their status; reads what it needs to find them.
GRANT SELECT ON alliances, card_ranges, cards TO jifen_op_card_service;
-- (its merchant code when it lists operators)
GRANT SELECT (id, merchant_code) ON merchants TO jifen_op_card_service;
GRANT INSERT, UPDATE ON cards TO jifen_op_card_service;
GRANT USAGE ON SEQUENCE cards_id_seq TO jifen_op_card_service;
GRANT SELECT, INSERT ON data_keys TO jifen_op_card_service;
CREATE POLICY data_keys_card_service ON data_keys TO jifen_op_card_service
    USING (purpose IN ('pan_lookup', 'pan_seal'))
    WITH CHECK (purpose IN ('pan_lookup', 'pan_seal'));
-- Merchant admin: reads its merchant (policies above); writes nothing. The terminals' sealed
-- TMKs open only with the front's private key, which no operator holds.
GRANT SELECT ON alliances, merchants, terminals, settlement_rules TO jifen_op_merchant_admin;
-- Clearing operator: runs clearing as the clearing service does.
GRANT jifen_clearing TO jifen_op_clearing;
-- Auditor: reads everything, as `jifen audit` does; writes nothing.
GRANT jifen_audit TO jifen_op_auditor;

-- Only the account host writes the journal and balances: no operator role may, whatever it
-- inherits (checked by tests/operators/test_database_rights.py).
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON transactions, journal_entries, postings, accounts
    FROM jifen_op_hq_admin, jifen_op_card_service, jifen_op_merchant_admin, jifen_op_clearing,
    jifen_op_auditor;

-- Managing operators. Owned by jifen_operator_admin (SECURITY DEFINER), callable by HQ admins
-- and by the installer (the back office's service role). A password reaches the server only
-- as a SCRAM-SHA-256 verifier computed by the client: never in clear, so never in a log.
CREATE FUNCTION operator_create(p_name text, p_role text, p_merchant_code text,
                                p_verifier text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_merchant integer;
BEGIN
    IF p_verifier !~ '^SCRAM-SHA-256\$' THEN
        RAISE EXCEPTION 'an operator password is given as a SCRAM-SHA-256 verifier'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_merchant_code IS NOT NULL THEN
        SELECT id INTO v_merchant FROM public.merchants WHERE merchant_code = p_merchant_code;
        IF v_merchant IS NULL THEN
            RAISE EXCEPTION 'no merchant %', p_merchant_code USING ERRCODE = 'no_data_found';
        END IF;
    END IF;
    -- The CHECKs of `operators` validate the name and role before any role is created.
    INSERT INTO public.operators (name, role, merchant_id) VALUES (p_name, p_role, v_merchant);
    EXECUTE format('CREATE ROLE %I LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE'
                   ' NOREPLICATION NOBYPASSRLS PASSWORD %L IN ROLE %I',
                   p_name, p_verifier, 'jifen_op_' || p_role);
    INSERT INTO public.audit_log (action, object_kind, object_key, merchant_id, after)
    VALUES ('operator.create', 'operator', p_name, v_merchant,
            jsonb_build_object('role', p_role, 'merchant_code', p_merchant_code,
                               'active', true));
END
$$;

CREATE FUNCTION operator_set_active(p_name text, p_active boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_before boolean;
    v_merchant integer;
BEGIN
    SELECT active, merchant_id INTO v_before, v_merchant FROM public.operators
        WHERE name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no operator %', p_name USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE public.operators SET active = p_active WHERE name = p_name;
    EXECUTE format('ALTER ROLE %I %s', p_name, CASE WHEN p_active THEN 'LOGIN' ELSE 'NOLOGIN' END);
    INSERT INTO public.audit_log (action, object_kind, object_key, merchant_id, before, after)
    VALUES (CASE WHEN p_active THEN 'operator.enable' ELSE 'operator.disable' END,
            'operator', p_name, v_merchant, jsonb_build_object('active', v_before),
            jsonb_build_object('active', p_active));
END
$$;

-- An operator may set its own password; an HQ admin (or the installer) anyone's.
CREATE FUNCTION operator_set_password(p_name text, p_verifier text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_merchant integer;
BEGIN
    IF p_verifier !~ '^SCRAM-SHA-256\$' THEN
        RAISE EXCEPTION 'an operator password is given as a SCRAM-SHA-256 verifier'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_name <> session_user
       AND NOT pg_has_role(session_user, 'jifen_op_hq_admin', 'USAGE')
       AND NOT pg_has_role(session_user, 'jifen_back_office', 'USAGE') THEN
        RAISE EXCEPTION 'only an HQ admin may set another operator''s password'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT merchant_id INTO v_merchant FROM public.operators WHERE name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no operator %', p_name USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE public.operators SET password_changed_at = now() WHERE name = p_name;
    EXECUTE format('ALTER ROLE %I PASSWORD %L', p_name, p_verifier);
    INSERT INTO public.audit_log (action, object_kind, object_key, merchant_id, after)
    VALUES ('operator.passwd', 'operator', p_name, v_merchant,
            jsonb_build_object('password', 'changed'));
END
$$;

ALTER FUNCTION operator_create(text, text, text, text) OWNER TO jifen_operator_admin;
ALTER FUNCTION operator_set_active(text, boolean) OWNER TO jifen_operator_admin;
ALTER FUNCTION operator_set_password(text, text) OWNER TO jifen_operator_admin;
REVOKE ALL ON FUNCTION operator_create(text, text, text, text),
    operator_set_active(text, boolean), operator_set_password(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_create(text, text, text, text),
    operator_set_active(text, boolean) TO jifen_op_hq_admin, jifen_back_office;
GRANT EXECUTE ON FUNCTION operator_set_password(text, text) TO jifen_op_hq_admin,
    jifen_back_office, jifen_op_card_service, jifen_op_merchant_admin, jifen_op_clearing,
    jifen_op_auditor;
