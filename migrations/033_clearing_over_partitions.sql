-- Clearing, reports and audit over partitions (docs/plans/partitions.md, step 4). Clearing
-- reads each partition's journal of a sealed date and adds the integer sums up before it
-- rounds (docs/clearing.md, "Partitions"); a run records which partitions it read, so that a
-- run made before a partition was added says it did not read it. NULL: a run made before 033,
-- which read the one database there was.
ALTER TABLE clearing_runs ADD COLUMN partitions text[];

-- Clearing (and `jifen audit`, which reads every table already) finds the partitions in
-- central's table: a partition in it that clearing could not reach refuses the run.
GRANT SELECT ON partitions TO jifen_clearing;

-- `jifen card statement` and `txn find` read every partition (back_office/queries/): the
-- operators who run them find the partitions in central's table (the merchant admin, to be
-- refused a read of other partitions, where row-level security would not narrow it).
GRANT SELECT ON partitions TO jifen_op_card_service, jifen_op_merchant_admin;
