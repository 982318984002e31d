-- Members' notifications over partitions (docs/operations.md, "Notifications" and
-- "Partitions"): one sender (`jifen notify`) reads every partition's outbox and records its
-- deliveries beside each (every database has migration 035's tables and grants); it reads the
-- opt-outs on central. To know which partitions there are it reads central's partitions
-- table (migration 029), as `jifen_notify`: the one grant it lacked.
GRANT SELECT ON partitions TO jifen_notify;
