-- Tiers (docs/rules.md, "Tiers"): each holder's standing, kept by the account host in memory
-- and written in the group commit of the request that changed it. A holder is a card's
-- member (all its cards share one standing), or the card itself when it has no member; the
-- generated `holder` (a member's id, or minus a card's) is the key the rows are written by.
-- `standing` is the value the host keeps in memory (proto/tiers.py packs and reads it: the
-- tier, its last sure day, and the 12 months' counts); `tier` and `tier_until` repeat the
-- first two for SQL (the nightly review selects the holders whose tier's year ended).
-- As for the journal's hot tables (migration 005), no foreign keys: the single writer keeps
-- the references, and `jifen audit` checks them (reference_missing); a purchase writes one
-- standing, so per-row key triggers would be a part of every purchase's cost.

CREATE TABLE tier_standings (
    holder        bigint GENERATED ALWAYS AS (coalesce(member_id, -card_id)) STORED
                  PRIMARY KEY,
    member_id     bigint,
    card_id       bigint,
    alliance_id   integer NOT NULL,
    tier          text NOT NULL CHECK (tier ~ '^[A-Z0-9]{1,8}$'),
    tier_until    date,               -- the tier's last sure day (NULL: the base, for good)
    standing      bytea NOT NULL CHECK (length(standing) = 62),
    changed_at    timestamptz NOT NULL,
    CHECK ((member_id IS NULL) <> (card_id IS NULL))
) WITH (fillfactor = 80);   -- room on the page for HOT updates: a standing changes often
-- The nightly review's selection: the holders whose tier's year ended (the base has none).
CREATE INDEX tier_standings_due ON tier_standings (alliance_id, tier_until)
    WHERE tier_until IS NOT NULL;

-- The host writes the standings (it reads cards' members already); staff read them.
GRANT SELECT, INSERT, UPDATE (tier, tier_until, standing, changed_at)
    ON tier_standings TO jifen_host;
GRANT SELECT ON tier_standings TO jifen_back_office, jifen_op_hq_admin, jifen_op_card_service,
    jifen_op_auditor, jifen_audit;

-- The nightly tier review: a sweep kind like the points expiry (025): a chunk of an alliance's
-- cards; done, it names no transaction (it posts none: it only changes standings).
ALTER TABLE host_commands DROP CONSTRAINT host_commands_kind_check;
ALTER TABLE host_commands ADD CONSTRAINT host_commands_kind_check CHECK (
    kind IN ('points_adjustment', 'stored_value_adjustment', 'points_transfer',
             'card_replacement', 'card_closure', 'join_bonus', 'gift_restock',
             'gift_withdrawal', 'points_expiry', 'tier_review'));
ALTER TABLE host_commands DROP CONSTRAINT host_commands_done_with_transaction;
ALTER TABLE host_commands ADD CONSTRAINT host_commands_done_with_transaction CHECK (
    CASE WHEN card_id IS NULL OR kind IN ('points_expiry', 'tier_review')
         THEN transaction_id IS NULL
         ELSE (state = 'done') = (transaction_id IS NOT NULL) END);
