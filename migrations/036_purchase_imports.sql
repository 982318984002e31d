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
