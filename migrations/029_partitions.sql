-- Partition identity (docs/plans/partitions.md, step 1). A partition is an account host with
-- its own database; its name is the host's name (`[host] name`, card_ranges.host_name). Until
-- a second one is added, the one database is partition number 0 and holds every table below.

-- What partitions exist. `number` makes a partition's row ids unique system-wide: its host's
-- transaction, entry and account counters run in [number << 48, (number + 1) << 48)
-- (account_host/identifiers.py). At most 256: the switch keeps a retransmission key's
-- partition in 8 bits (plan §4).
CREATE TABLE partitions (
    name        text PRIMARY KEY CHECK (name <> '' AND length(name) <= 64),
    number      smallint NOT NULL UNIQUE CHECK (number BETWEEN 0 AND 255),
    -- adding: its database and RRN range are being made (`partition add`); ready: it serves.
    state       text NOT NULL DEFAULT 'adding' CHECK (state IN ('adding', 'ready')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Which RRNs (field 37, 12 digits) a partition's host may issue. Ranges never overlap, so an
-- RRN is unique system-wide and names the partition that issued it. The host reserves its
-- blocks inside its own ranges, lowest first, and answers 96 when none has room.
CREATE TABLE rrn_ranges (
    partition    text NOT NULL REFERENCES partitions ON UPDATE CASCADE,
    first_rrn    bigint PRIMARY KEY,
    last_rrn     bigint NOT NULL,
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (0 <= first_rrn AND first_rrn <= last_rrn AND last_rrn < 1000000000000),
    EXCLUDE USING gist (int8range(first_rrn, last_rrn, '[]') WITH &&)
);
CREATE INDEX rrn_ranges_partition ON rrn_ranges (partition, first_rrn);

-- The existing host becomes partition 0, named as its card ranges name it when they all name
-- one host (a host whose name is not a partition cannot reserve RRNs and answers 96), else
-- `main`. Alone, it keeps the whole RRN space, from 1 (its counter's first value) as before;
-- adding a second partition ends this range above the counter (plan §1, "Identifiers").
INSERT INTO partitions (name, number, state)
SELECT coalesce((SELECT min(host_name) FROM card_ranges HAVING count(DISTINCT host_name) = 1),
                'main'), 0, 'ready';
INSERT INTO rrn_ranges (partition, first_rrn, last_rrn)
SELECT name, 1, 999999999999 FROM partitions;

-- The host that owns a card: the narrowest card range that covers its masked PAN (the longest
-- prefix, then the smallest span, then the oldest row), as the switch routes
-- (switch/routes.py RouteTable.host_for); no row when no range covers it. A set-returning SQL
-- function, so that `JOIN LATERAL range_owner(c.pan_masked)` is inlined into the caller's plan
-- (a scalar call costs about 5 µs a card: seconds at a host's start with 10^6 cards). Any
-- role may call it (PUBLIC's default): it reads card_ranges with the caller's rights.
CREATE FUNCTION range_owner(pan_masked text) RETURNS TABLE (host_name text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.host_name FROM card_ranges r
    WHERE left(range_owner.pan_masked, length(r.bin_low)) COLLATE "C"
          BETWEEN r.bin_low AND r.bin_high
    ORDER BY length(r.bin_low) DESC, r.bin_high::bigint - r.bin_low::bigint, r.id
    LIMIT 1
$$;

-- The card a remembered request or a tombstone is for (no foreign key: written per request,
-- as the journal's references, migration 005): a range moved to another partition takes its
-- cards' retransmission window with it (plan §6). NULL for requests without a card (0500,
-- 0800) and for rows written before this migration.
ALTER TABLE host_requests ADD COLUMN card_id bigint;
ALTER TABLE reversal_tombstones ADD COLUMN card_id bigint;

-- A closed batch's totals as the terminal claimed them in its 0500 and as this partition
-- counted them, in proto/frames.py Totals' order: purchases' count and fen (fields 74, 86),
-- returns' (75, 87), redemptions' count and points (76, 88), loads' (77, 89). A batch's parts
-- in several partitions are summed by a report (plan §3). NULL while open, and before 029.
ALTER TABLE terminal_batches
    ADD COLUMN claimed bigint[] CHECK (cardinality(claimed) = 8),
    ADD COLUMN counted bigint[] CHECK (cardinality(counted) = 8);

-- The host reads which partition it is and its RRN ranges when it reserves identifiers.
GRANT SELECT ON partitions, rrn_ranges TO jifen_host;
-- The back office shows partitions and ranges (and, from step 3, adds them).
GRANT SELECT ON partitions, rrn_ranges TO jifen_back_office;
