-- A holder's tier standing rides on its card's points account row (docs/rules.md, "Tiers").
-- A purchase writes that row anyway (its balance, its lots); a row of its own in
-- tier_standings per purchase cost PostgreSQL about 10 µs a purchase, an eighth of the batch
-- statement (docs/performance.md, "Tier standings with the balance"). So the account host
-- writes a holder's standing with the balance of the card that changed it, and a
-- tier_standings row only where SQL needs one: a new holder, a change of tier or of its last
-- sure day (the nightly review selects by them), or a change with no points account in the
-- batch. A member's cards may then hold several copies of its standing; each copy carries the
-- `seq` of the group commit that wrote it (increasing, never reused), and the newest copy,
-- in either table, is the standing. A copy on an account names its holder: a card that
-- joins a member later keeps its own old standing's copy, which is then not the member's. `tier` and `tier_until` in tier_standings are always
-- the holder's current ones; its `standing` may be older than a copy on an account.

ALTER TABLE accounts
    ADD COLUMN standing bytea CHECK (length(standing) = 62),
    ADD COLUMN standing_seq bigint,
    ADD COLUMN standing_holder bigint,   -- tier_standings.holder: a member's id, or -card id
    ADD CONSTRAINT accounts_standing_of_points CHECK (
        (standing IS NULL AND standing_seq IS NULL AND standing_holder IS NULL)
        OR (kind = 'member_points' AND standing IS NOT NULL AND standing_seq IS NOT NULL
            AND standing_holder IS NOT NULL));
-- Rows written before this migration are the newest copies there are.
ALTER TABLE tier_standings ADD COLUMN seq bigint NOT NULL DEFAULT 0;
GRANT UPDATE (seq) ON tier_standings TO jifen_host;

-- The standing as staff see it (`jifen member show`): the row, or a newer copy on one of the
-- holder's cards' points accounts. The view reads with its owner's rights, so a role that may
-- read tier_standings reads the copies through it without any right on accounts.
CREATE VIEW tier_standings_current AS
SELECT s.holder, s.member_id, s.card_id, s.alliance_id, s.tier, s.tier_until,
       coalesce(newer.standing, s.standing) AS standing
FROM tier_standings s
LEFT JOIN LATERAL (
    SELECT copies.standing FROM (
        SELECT p.standing, p.standing_seq
        FROM cards c JOIN accounts p ON p.kind = 'member_points' AND p.card_id = c.id
        WHERE c.member_id = s.member_id AND p.standing_holder = s.holder
        UNION ALL
        SELECT p.standing, p.standing_seq
        FROM accounts p
        WHERE p.kind = 'member_points' AND p.card_id = s.card_id
          AND p.standing_holder = s.holder
    ) AS copies
    WHERE copies.standing_seq > s.seq
    ORDER BY copies.standing_seq DESC LIMIT 1
) AS newer ON true;
GRANT SELECT ON tier_standings_current TO jifen_back_office, jifen_op_hq_admin,
    jifen_op_card_service, jifen_op_auditor, jifen_audit;
