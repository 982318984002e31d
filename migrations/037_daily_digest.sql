-- The daily digest (日报, `jifen report daily`, docs/reports.md) reads as clearing, over every
-- partition: members who transacted on the date (their cards' member), the members created
-- on it (central's members), and, run by an HQ admin, the terminal batches that did not
-- reconcile. Read only; the columns it needs and no more.

-- New members of a business date: a range of created_at within one alliance, on an index
-- (without it, every member of every alliance is read each night).
CREATE INDEX members_alliance_created ON members (alliance_id, created_at);

-- Members active on a date: the date's transactions at terminals, their card's member.
-- Row-level security on cards already passes every row to jifen_clearing (migration 017).
GRANT SELECT (id, alliance_id, member_id) ON cards TO jifen_clearing;
GRANT SELECT (id, alliance_id, created_at) ON members TO jifen_clearing;

-- An HQ admin reads the journal already (017); the digest's terminals that did not reconcile
-- read the terminals' batches too (a clearing operator and an auditor could before).
GRANT SELECT ON terminal_batches TO jifen_op_hq_admin;

-- The digest's risk queue: the open reviews (risk control, migration 034) by level, on the
-- partial index of open reviews; in every partition, as each host writes its own.
GRANT SELECT (alliance_id, level, status, raised_at) ON risk_reviews
    TO jifen_clearing, jifen_op_hq_admin;
