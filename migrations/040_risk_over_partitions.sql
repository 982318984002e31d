-- Risk control over partitions (docs/rules.md, "Risk control"; docs/operations.md,
-- "Partitions"). Each partition's host writes its reviews into its own database and judges
-- growth against its own journal, so each database's risk_baselines are that partition's own:
-- `jifen risk baseline` computes them from that partition's journal and writes them there.
-- They stop being reference data: replicated from central they would overwrite a partition's
-- (a merchant earns in every partition, so both would hold a row of the same key, and the
-- subscription would stop on the duplicate).
ALTER PUBLICATION jifen_reference DROP TABLE risk_baselines;
REVOKE SELECT ON risk_baselines FROM jifen_replication;
-- The back office announces its own writes (NOTIFY risk_baselines) in every database now: the
-- notify trigger for replicated rows is not needed. (A partition added later has it enabled
-- with the others by `partition add`: the same notice twice in one transaction, which
-- PostgreSQL delivers once.)
ALTER TABLE risk_baselines DISABLE TRIGGER jifen_replicated_change;

-- The back office writes a partition's risk data as jifen_back_office (operators log in on
-- central only): the baselines (034: SELECT, INSERT, DELETE) and a decided review's status,
-- decider and time (034: UPDATE of those columns; `decided_by` names the operator, taken from
-- central's session). The baseline reads the journal's earnings, these columns only (it could
-- not read transactions before: a run under the service's own login was refused).
GRANT SELECT (card_id, merchant_id, business_date, kind, points) ON transactions
    TO jifen_back_office;
