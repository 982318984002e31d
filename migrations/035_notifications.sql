-- Member notifications (docs/operations.md, "Notifications"; docs/back-office.md,
-- "Notification preferences"): a transactional outbox. Every event is written in the same
-- commit as its cause: the host's batch statement (account_host/journal.py BATCH_SQL) for
-- postings, tier changes, password locks and the card statuses it sets; the back office's
-- transaction for a block by card service; the expiry warning run's for points about to expire.
-- So there is never a notification without its cause, nor a cause without its notification.
--
-- The sender (`jifen notify`, notifications/) reads the outbox and records what it did with
-- each event in a table of its own: the host and the back office only INSERT outbox rows, and
-- never wait on the sender's writes. As for the journal's hot tables (005, 026), no foreign keys
-- on the outbox: a purchase writes one event, and a per-row key check would be part of its cost.

CREATE TABLE notification_outbox (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                      text NOT NULL CHECK (kind IN (
        'points_earned', 'points_spent', 'stored_value_moved', 'points_expiring',
        'tier_changed', 'card_blocked', 'password_locked')),
    card_id                   bigint NOT NULL,
    transaction_id            bigint,      -- the posting's, where there is one
    transaction_kind          text,        -- transactions.kind: purchase, redemption, ...
    points                    bigint,      -- the member's points moved (signed), or expiring
    points_balance            bigint,      -- the points balance after the posting
    stored_value_fen          bigint,      -- the stored value moved (signed)
    stored_value_balance_fen  bigint,      -- the stored value after the posting
    tier                      text,        -- the tier after a change
    tier_before               text,
    status                    text,        -- a blocked card's status: blocked, lost, stolen
    expiry_day                date,        -- the day points expire (points_expiring)
    business_date             date,        -- the posting's; NULL for a state change
    created_at                timestamptz NOT NULL
);
-- One warning per card and expiry day, however often the run is repeated.
CREATE UNIQUE INDEX notification_outbox_expiry_warning ON notification_outbox
    (card_id, expiry_day) WHERE kind = 'points_expiring';

-- What the sender did with each event: delivered (the webhook answered 2xx) or skipped (the
-- member opted out of its kind). An event without a row here is pending.
CREATE TABLE notification_deliveries (
    event_id  bigint PRIMARY KEY REFERENCES notification_outbox,
    outcome   text NOT NULL CHECK (outcome IN ('delivered', 'skipped')),
    attempts  integer NOT NULL CHECK (attempts >= 0),
    done_at   timestamptz NOT NULL
);

-- A member's opt-outs, one row per kind they do not want (none: every kind is sent).
CREATE TABLE member_notification_opt_outs (
    member_id   bigint NOT NULL REFERENCES members,
    kind        text NOT NULL CHECK (kind IN (
        'points_earned', 'points_spent', 'stored_value_moved', 'points_expiring',
        'tier_changed', 'card_blocked', 'password_locked')),
    changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, kind)
);

-- Events are history: never edited or deleted (a delivery is recorded beside them).
CREATE TRIGGER notification_outbox_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON notification_outbox FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();

-- The sender's own role: it reads the outbox, the cards' member and alliance, the opt-outs,
-- and writes its deliveries; nothing else.
DO $$
BEGIN
    CREATE ROLE jifen_notify NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
GRANT USAGE ON SCHEMA public TO jifen_notify;
GRANT SELECT ON notification_outbox, member_notification_opt_outs TO jifen_notify;
GRANT SELECT (id, member_id, alliance_id) ON cards TO jifen_notify;
CREATE POLICY cards_notify ON cards FOR SELECT TO jifen_notify USING (true);   -- RLS (015)
GRANT SELECT, INSERT ON notification_deliveries TO jifen_notify;

-- The host writes events in its batch statement (INSERT only, no RETURNING).
GRANT INSERT ON notification_outbox TO jifen_host;
GRANT USAGE ON SEQUENCE notification_outbox_id_seq TO jifen_host;
-- Card service's block writes its event in its own transaction; the expiry warning run (as
-- the back office) reads the points accounts' lots and writes its warnings.
GRANT INSERT ON notification_outbox TO jifen_back_office, jifen_op_card_service,
    jifen_op_hq_admin;
GRANT USAGE ON SEQUENCE notification_outbox_id_seq TO jifen_back_office,
    jifen_op_card_service, jifen_op_hq_admin;
GRANT SELECT (card_id, kind, lots, lots_expire_first, balance) ON accounts
    TO jifen_back_office;
-- Members' preferences, kept by the back office and card service; staff read the deliveries.
GRANT SELECT, INSERT, DELETE ON member_notification_opt_outs TO jifen_back_office,
    jifen_op_card_service, jifen_op_hq_admin;
GRANT SELECT (id) ON members TO jifen_op_hq_admin;   -- that the member exists
GRANT SELECT ON notification_outbox, notification_deliveries TO jifen_back_office,
    jifen_op_card_service, jifen_op_hq_admin, jifen_op_auditor;
