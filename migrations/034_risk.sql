-- Risk control (docs/rules.md, "Risk control"; host interface §9, "Velocity"). Per alliance,
-- versions of its risk settings: the levels of abnormal growth, and velocity limits per
-- processing code (65 for too many requests, 61 for too much amount in a day). The account
-- host loads the newest version of each alliance and reloads on `risk_settings`; a version is
-- written once and kept (the audit trail names who set it).

CREATE TABLE risk_settings (
    alliance_id               integer NOT NULL REFERENCES alliances,
    version                   integer NOT NULL CHECK (version > 0),
    -- A day's points of a card (or a merchant) above multiple x max(its 30-day average per
    -- day, floor) raises a warning review; above the block multiple, a card is blocked.
    -- NULL: no growth checks for this alliance.
    growth_warning_multiple   integer CHECK (growth_warning_multiple BETWEEN 2 AND 1000),
    growth_block_multiple     integer CHECK (growth_block_multiple BETWEEN 2 AND 1000),
    growth_floor_points       bigint CHECK (growth_floor_points BETWEEN 1 AND 1000000000000),
    created_by                text NOT NULL DEFAULT session_user,
    created_at                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alliance_id, version),
    CHECK ((growth_warning_multiple IS NULL) = (growth_block_multiple IS NULL)
           AND (growth_warning_multiple IS NULL) = (growth_floor_points IS NULL)),
    CHECK (growth_block_multiple > growth_warning_multiple)
);

-- A version's velocity limits, one row per limited processing code (0200 only); NULL: that
-- limit is not set.
CREATE TABLE risk_limits (
    alliance_id             integer NOT NULL,
    version                 integer NOT NULL,
    processing_code         text NOT NULL CHECK (processing_code IN (
                                '000000', '006000', '900000', '910000', '200000', '210000',
                                '400060')),
    requests_per_hour_max   integer CHECK (requests_per_hour_max BETWEEN 1 AND 1000000),
    requests_per_day_max    integer CHECK (requests_per_day_max BETWEEN 1 AND 1000000),
    amount_per_day_max      bigint CHECK (amount_per_day_max BETWEEN 1 AND 4000000000),
    PRIMARY KEY (alliance_id, version, processing_code),
    FOREIGN KEY (alliance_id, version) REFERENCES risk_settings,
    CHECK (coalesce(requests_per_hour_max, requests_per_day_max, amount_per_day_max)
           IS NOT NULL)
);

-- Each card's and merchant's points per day over the 30 local days through `through_date`
-- (rounded down), as the nightly `jifen risk baseline` computed them: the host loads them at
-- start and again on `risk_baselines`. A subject without a row averaged 0.
CREATE TABLE risk_baselines (
    alliance_id      integer NOT NULL REFERENCES alliances,
    subject          text NOT NULL CHECK (subject IN ('card', 'merchant')),
    subject_id       bigint NOT NULL,
    through_date     date NOT NULL,
    points_per_day   bigint NOT NULL CHECK (points_per_day > 0),
    PRIMARY KEY (subject, subject_id)
);
CREATE INDEX risk_baselines_alliance ON risk_baselines (alliance_id);

-- The review queue: what the host raised (a warning, or a block it made), written in the same
-- statement as the posting that raised it; an operator releases (a request a second operator
-- approves: it unblocks the card) or confirms it (the block stands).
CREATE TABLE risk_reviews (
    id              bigserial PRIMARY KEY,
    alliance_id     integer NOT NULL REFERENCES alliances,
    card_id         bigint REFERENCES cards,
    merchant_id     integer REFERENCES merchants,
    kind            text NOT NULL CHECK (kind IN ('card_points_growth',
                                                  'merchant_points_growth')),
    level           text NOT NULL CHECK (level IN ('warning', 'block')),
    status          text NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'released', 'confirmed')),
    business_date   date NOT NULL,
    raised_at       timestamptz NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}',
    decided_by      text,
    decided_at      timestamptz,
    CHECK ((status = 'open') = (decided_at IS NULL)),
    CHECK ((kind = 'card_points_growth') = (card_id IS NOT NULL))
);
-- The queue (`jifen risk queue`, the digest, the metrics): open rows by alliance and age.
CREATE INDEX risk_reviews_open ON risk_reviews (alliance_id, raised_at) WHERE status = 'open';
CREATE INDEX risk_reviews_card ON risk_reviews (card_id, business_date);

-- The host blocks a card itself (05) past the block level: a card status change of its own,
-- folded into cards like a command's (migration 030).
ALTER TABLE card_status_changes DROP CONSTRAINT card_status_changes_status_check;
ALTER TABLE card_status_changes ADD CONSTRAINT card_status_changes_status_check
    CHECK (status IN ('active', 'closed', 'blocked'));

GRANT SELECT ON risk_settings, risk_limits, risk_baselines TO jifen_host;
GRANT SELECT, INSERT ON risk_reviews TO jifen_host;
GRANT USAGE ON SEQUENCE risk_reviews_id_seq TO jifen_host;
GRANT SELECT, INSERT ON risk_settings, risk_limits TO jifen_back_office;
GRANT SELECT, INSERT, DELETE ON risk_baselines TO jifen_back_office;
GRANT SELECT, UPDATE (status, decided_by, decided_at) ON risk_reviews TO jifen_back_office;
-- Card service reads the queue and decides reviews (release is a request; confirm at once);
-- auditors read everything by default privileges (006).
GRANT SELECT ON risk_settings, risk_limits, risk_reviews TO jifen_op_card_service;
GRANT UPDATE (status, decided_by, decided_at) ON risk_reviews TO jifen_op_card_service;

-- With partitions (migration 031): the settings and baselines are central's reference data,
-- which each partition's host loads; in a partition each announces itself as the back office
-- does on central (off until `partition add` enables it). An existing subscription takes
-- them at its next `ALTER SUBSCRIPTION … REFRESH PUBLICATION`.
ALTER PUBLICATION jifen_reference ADD TABLE risk_settings, risk_limits, risk_baselines;
GRANT SELECT ON risk_settings, risk_limits, risk_baselines TO jifen_replication;
CREATE TRIGGER jifen_replicated_change AFTER INSERT OR UPDATE OR DELETE ON risk_settings
    FOR EACH ROW EXECUTE FUNCTION jifen_replicated_change('risk_settings');
CREATE TRIGGER jifen_replicated_change AFTER INSERT OR UPDATE OR DELETE ON risk_limits
    FOR EACH ROW EXECUTE FUNCTION jifen_replicated_change('risk_settings');
-- (A row trigger, as the apply worker fires no statement triggers: a night's identical
-- notifications within one replicated transaction are delivered once.)
CREATE TRIGGER jifen_replicated_change AFTER INSERT OR UPDATE OR DELETE ON risk_baselines
    FOR EACH ROW EXECUTE FUNCTION jifen_replicated_change('risk_baselines');
ALTER TABLE risk_settings DISABLE TRIGGER jifen_replicated_change;
ALTER TABLE risk_limits DISABLE TRIGGER jifen_replicated_change;
ALTER TABLE risk_baselines DISABLE TRIGGER jifen_replicated_change;
