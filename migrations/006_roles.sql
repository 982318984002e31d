-- Least privilege (docs/security.md, "Database (least privilege)"): one NOLOGIN group role per
-- service, holding only the grants its code needs (each grant below names the code that uses
-- it), and a journal that nobody may change once written.
--
-- Services log in as `<role>_login`, a member of the group role. On the embedded server
-- `jifen` creates the login roles with generated passwords; on your own server:
--     CREATE ROLE jifen_host_login LOGIN PASSWORD '...' IN ROLE jifen_host;
-- (and so for each role). Roles are cluster-wide: this file creates them if missing, so it
-- runs in every database of a cluster (a test run's too), and the migrator needs CREATEROLE.
-- Tables added by later migrations need their own GRANTs (jifen_audit gets SELECT by default).

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['jifen_host', 'jifen_front', 'jifen_switch',
                                     'jifen_clearing', 'jifen_back_office', 'jifen_audit']
    LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        -- Another database's migration (a concurrent test run) created it meanwhile.
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END LOOP;
END
$$;

-- Nothing for anyone unless granted below. (PostgreSQL 15+ already refuses CREATE on the
-- public schema to PUBLIC; said again for servers upgraded from older versions.)
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO jifen_host, jifen_front, jifen_switch, jifen_clearing,
    jifen_back_office, jifen_audit;

-- The account host (account_host/): loads its state at start (loading.py, loading_ledger.py),
-- writes one batch statement per group commit (journal.py BATCH_SQL), reserves identifiers
-- (identifiers.py). accounts carry balances (ON CONFLICT DO UPDATE SET balance); host_requests,
-- reversal_tombstones and terminal_batches are upserted; the journal itself
-- (transactions, journal_entries, postings) is INSERT only.
GRANT SELECT ON alliances, merchants, cards, card_ranges, business_days, gift_catalogue
    TO jifen_host;
GRANT SELECT (terminal_code, merchant_id, requires_mac, active, created_at) ON terminals
    TO jifen_host;
GRANT SELECT, INSERT ON transactions, journal_entries, postings, review_items TO jifen_host;
GRANT SELECT, INSERT, UPDATE ON accounts, host_requests, reversal_tombstones, terminal_batches
    TO jifen_host;
GRANT SELECT, UPDATE ON host_counters TO jifen_host;
GRANT USAGE ON SEQUENCE review_items_id_seq TO jifen_host;

-- The acquirer front (acquirer_front/): its registry of terminals (registry_loader.py), the
-- TMKs and session keys (sessions.py), its store-and-forward queue (saf/: insert, update the
-- state, delete settled rows past their retention).
GRANT SELECT ON alliances, merchants, terminals TO jifen_front;
GRANT SELECT, INSERT, UPDATE ON terminal_sessions TO jifen_front;
GRANT SELECT, INSERT, UPDATE, DELETE ON front_saf TO jifen_front;
GRANT USAGE ON SEQUENCE front_saf_id_seq TO jifen_front;

-- The switch (switch/routes.py): the card ranges, nothing else.
GRANT SELECT ON card_ranges TO jifen_switch;

-- Clearing (clearing/): reads the journal and the reference data, seals business days
-- (sealing.py: LOCK TABLE journal_entries IN SHARE MODE, which takes MAINTAIN since it is
-- stronger than ACCESS SHARE; MAINTAIN also allows VACUUM, ANALYZE, REINDEX, never a change
-- of a row), and writes its runs.
GRANT SELECT ON alliances, merchants, accounts, transactions, journal_entries, postings,
    terminal_batches, settlement_rules TO jifen_clearing;
GRANT SELECT (terminal_code, merchant_id, requires_mac, active, created_at) ON terminals
    TO jifen_clearing;
GRANT MAINTAIN ON journal_entries TO jifen_clearing;
GRANT SELECT, INSERT ON business_days, clearing_runs, clearing_positions, clearing_nets,
    settlement_instructions TO jifen_clearing;
GRANT USAGE ON SEQUENCE clearing_runs_id_seq TO jifen_clearing;

-- The back office's provisioning (back_office/provisioning/): the reference data. It creates
-- and edits (deactivates) rows; nothing is ever deleted. card_ranges.py locks card_ranges in
-- SHARE ROW EXCLUSIVE mode, which UPDATE allows.
GRANT SELECT, INSERT, UPDATE ON alliances, merchants, terminals, cards, card_ranges,
    settlement_rules, gift_catalogue TO jifen_back_office;
-- settlement_rules.py refuses a rule change for a date already cleared.
GRANT SELECT ON clearing_runs TO jifen_back_office;
GRANT USAGE ON SEQUENCE alliances_id_seq, merchants_id_seq, cards_id_seq, card_ranges_id_seq,
    settlement_rules_id_seq TO jifen_back_office;

-- The audit (`jifen audit`, `jifen saf list`): reads everything, now and in later migrations
-- run by the same migrator.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO jifen_audit;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO jifen_audit;

-- The journal is append-only, for everyone. No role holds UPDATE, DELETE or TRUNCATE on it;
-- and a trigger refuses them even to its owner and to superusers (who would have to disable
-- it, or set session_replication_role = replica, on purpose and visibly).
REVOKE UPDATE, DELETE, TRUNCATE ON transactions, journal_entries, postings FROM PUBLIC,
    jifen_host, jifen_front, jifen_switch, jifen_clearing, jifen_back_office, jifen_audit;

CREATE FUNCTION journal_is_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'a correction is a new transaction (a reversal or an adjustment)';
END
$$;
REVOKE ALL ON FUNCTION journal_is_append_only() FROM PUBLIC;

-- Statement level: no cost per inserted row, and it fires even when no row matches.
CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();
CREATE TRIGGER journal_entries_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();
