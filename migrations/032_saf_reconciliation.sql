-- The front's store-and-forward also owes a 0500 that went to the host and got 91 or no answer
-- (docs/plans/partitions.md §3, "Closing atomically enough"): with several partitions some of
-- its parts may have closed and one not, and the spec says a 0500 closes its batch whatever it
-- answers. The row holds the 0500 as the terminal sent it; its original_data is the 0500's own
-- MTI, STAN and field 7 in field 90's form (one pending row per 0500), and it has no reason
-- code (field 39 of a 0420).
ALTER TABLE front_saf DROP CONSTRAINT front_saf_origin_check;
ALTER TABLE front_saf ADD CONSTRAINT front_saf_origin_check
    CHECK (origin IN ('undelivered', 'no_answer', 'terminal', 'reconciliation'));
ALTER TABLE front_saf ALTER COLUMN reason_code DROP NOT NULL;
