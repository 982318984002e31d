"""`jifen partition add NAME`: a second (or further) partition's database made ready to serve
(docs/plans/partitions.md §6, docs/operations.md "Partitions").

Each step checks first, so an add that was interrupted is resumed by running it again:

1. both databases log row changes, and the partition's schema is central's (migrated here);
2. central: the partition's row (`adding`, the lowest free number), and its RRN range. The
   first add ends central's own range, the whole RRN space until then, 10^9 past its host's
   counter; each partition then gets the next 10^9. One transaction, with central's `rrn`
   counter row locked, so that its host reserves no block past the new end meanwhile;
3. the partition: its host's id counters start at number << 48 (migration 029);
4. the partition subscribes to central's reference data (its own seed rows of the replicated
   tables, the partitions and the RRN range its migrations wrote, make way for the copy), waits
   for the copy, then sets its triggers: its copies of the shared rows are central's alone
   (the folds off), and each replicated change is announced on its channel (ENABLE ALWAYS);
5. central subscribes to the partition's outcomes;
6. central: the partition is `ready`.

Nothing here starts a host or routes a range to it: that is the switch's `hosts` and a card
range's `host_name`.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
import msgspec

from database import connect, migrate
from database.errors import PartitionError
from database.partitions import CENTRAL_NUMBER
from database.replication import (
    OUTCOMES_PUBLICATION,
    REFERENCE_PUBLICATION,
    check_logical,
    subscribe,
    subscription_name,
    wait_for_copy,
)

# The RRNs a partition is given at a time: 55 hours at 5,000 approvals/s (plan §1).
RRN_RANGE_SIZE = 10**9
RRN_LAST = 999_999_999_999  # field 37: 12 digits
# The counters of ids unique system-wide (account_host/identifiers.py).
ID_COUNTERS = ("transaction", "entry", "account")
PARTITION_NUMBER_MAX = 255  # the switch keeps a partition in 8 bits (migration 029)
# The reference tables' rows that a fresh partition's migrations write: replaced by central's.
SEEDED_TABLES = ("rrn_ranges", "partitions")
# The folds of migration 030, off in a partition: its shared rows come from central only.
FOLDS = (("command_outcomes", "command_outcomes_fold"),
         ("card_status_changes", "card_status_changes_fold"),
         ("gift_stock", "gift_stock_fold"), ("prize_stock", "prize_stock_fold"),
         ("bonus_owed", "bonus_owed_fold"))
NOTIFY_TRIGGER = "jifen_replicated_change"


class Added(msgspec.Struct, frozen=True):
    name: str
    number: int
    first_rrn: int
    last_rrn: int
    central_range_ended_at: int | None  # central's new last RRN, when this add ended it
    migrations_applied: list[str]


async def add_partition(
    name: str, central_url: str, partition_url: str, replication_urls: Mapping[str, str],
    timeout_s: float,
) -> Added:
    """Make partition `name` ready on the database of `partition_url`. URLs: the
    administrator's of both (a superuser: subscriptions); `replication_urls` the replication
    login's, `central` and `partition`, which each subscription connects with. `timeout_s`
    bounds each connection and each initial copy."""
    if central_url == partition_url:
        raise PartitionError(f"partition {name}'s database is the central one")
    central = await connect(central_url, timeout_s)
    try:
        partition = await connect(partition_url, timeout_s)
        try:
            for connection in (central, partition):
                await _bounded(connection, timeout_s)
            await check_logical(central, "the central database")
            await check_logical(partition, f"partition {name}")
            applied = await migrate(partition_url, connect_timeout_s=timeout_s)
            await _check_same_schema(central, partition, name)
            number, first, last, ended = await _register(central, name)
            await _seed_counters(partition, number)
            await _subscribe_to_reference(partition, number, replication_urls["central"],
                                          timeout_s)
            await subscribe(central, OUTCOMES_PUBLICATION, number,
                            replication_urls["partition"])
            await wait_for_copy(central, OUTCOMES_PUBLICATION, number, timeout_s)
            await central.execute("UPDATE partitions SET state = 'ready' WHERE name = $1", name)
        except asyncpg.PostgresError as exc:
            raise PartitionError(f"adding partition {name} failed: {exc}") from exc
        finally:
            await partition.close()
    finally:
        await central.close()
    return Added(name, number, first, last, ended, applied)


async def _bounded(connection: asyncpg.Connection, timeout_s: float) -> None:
    """No statement of the add waits longer than `timeout_s`, for a lock (a running host's
    batch holds the counters' and the folds' tables) or for the server."""
    milliseconds = max(1, int(timeout_s * 1000))
    await connection.execute(f"SET statement_timeout = {milliseconds}")
    await connection.execute(f"SET lock_timeout = {milliseconds}")


async def _check_same_schema(
    central: asyncpg.Connection, partition: asyncpg.Connection, name: str,
) -> None:
    """A subscriber must have every column its publisher sends: `jifen db migrate` first."""
    sql = "SELECT array_agg(version ORDER BY version) FROM schema_migrations"
    if await central.fetchval(sql) != await partition.fetchval(sql):
        raise PartitionError(f"the central database and partition {name}'s are not at the same"
                             " migration: run `jifen db migrate`, then add again")


async def _register(central: asyncpg.Connection, name: str) -> tuple[int, int, int, int | None]:
    """The partition's row and RRN range on central (made once): its number, its range, and
    central's new last RRN when this call ended central's range."""
    async with central.transaction():
        number = await central.fetchval("SELECT number FROM partitions WHERE name = $1", name)
        if number is None:
            number = await central.fetchval(
                "SELECT min(n) FROM generate_series(1, $1) AS n"
                " WHERE n NOT IN (SELECT number FROM partitions)", PARTITION_NUMBER_MAX)
            if number is None:
                raise PartitionError(f"no partition number left (at most "
                                     f"{PARTITION_NUMBER_MAX + 1} partitions)")
            await central.execute(
                "INSERT INTO partitions (name, number, state) VALUES ($1, $2, 'adding')",
                name, number)
        own = await central.fetchrow(
            "SELECT first_rrn, last_rrn FROM rrn_ranges WHERE partition = $1"
            " ORDER BY first_rrn LIMIT 1", name)
        if own is not None:
            return number, own["first_rrn"], own["last_rrn"], None
        ended = await _end_central_range(central)
        first = await central.fetchval("SELECT max(last_rrn) + 1 FROM rrn_ranges")
        last = await append_rrn_range(central, name, first, "no range of 10^9 left for a"
                                                            " partition")
    return number, first, last, ended


async def append_rrn_range(central: asyncpg.Connection, name: str, first: int,
                           spent: str) -> int:
    """Partition `name` given RRN_RANGE_SIZE RRNs from `first` (above every range); the last.
    PartitionError saying `spent` when they would run past field 37's 12 digits."""
    last = first + RRN_RANGE_SIZE - 1
    if last > RRN_LAST:
        raise PartitionError(f"the RRN space is spent: {spent}")
    await central.execute(
        "INSERT INTO rrn_ranges (partition, first_rrn, last_rrn) VALUES ($1, $2, $3)",
        name, first, last)
    return last


async def _end_central_range(central: asyncpg.Connection) -> int | None:
    """Central's range still spans the rest of the RRN space (no partition added yet): end it
    RRN_RANGE_SIZE past its host's counter, locked against the host's reservations."""
    counter = await central.fetchval(
        "SELECT next_value FROM host_counters WHERE name = 'rrn' FOR UPDATE")
    row = await central.fetchrow(
        "SELECT r.first_rrn, r.last_rrn FROM rrn_ranges r JOIN partitions p"
        " ON p.name = r.partition WHERE p.number = $1 ORDER BY r.first_rrn DESC LIMIT 1",
        CENTRAL_NUMBER)
    if row is None or row["last_rrn"] != RRN_LAST:
        return None
    end = max(counter, row["first_rrn"]) + RRN_RANGE_SIZE - 1
    if end >= RRN_LAST:
        raise PartitionError("central's host has used the RRN space up to its last 10^9")
    await central.execute("UPDATE rrn_ranges SET last_rrn = $1 WHERE first_rrn = $2",
                          end, row["first_rrn"])
    return int(end)


async def _seed_counters(partition: asyncpg.Connection, number: int) -> None:
    base = number << 48
    await partition.execute(
        "UPDATE host_counters SET next_value = greatest(next_value, $1)"
        " WHERE name = ANY($2::text[])", base, list(ID_COUNTERS))
    highest = await partition.fetchval(
        "SELECT max(next_value) FROM host_counters WHERE name = ANY($1::text[])",
        list(ID_COUNTERS))
    assert highest < (number + 1) << 48, "a partition's ids past its id base"


async def _subscribe_to_reference(
    partition: asyncpg.Connection, number: int, central_replication_url: str, timeout_s: float,
) -> None:
    exists = await partition.fetchval("SELECT true FROM pg_subscription WHERE subname = $1",
                                      subscription_name(REFERENCE_PUBLICATION, number))
    if not exists:
        await _clear_seeds(partition)
        await subscribe(partition, REFERENCE_PUBLICATION, number, central_replication_url)
    await wait_for_copy(partition, REFERENCE_PUBLICATION, number, timeout_s)
    for table, trigger in FOLDS:
        await partition.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    tables = await partition.fetch(
        "SELECT t.tgrelid::regclass::text AS name FROM pg_trigger t WHERE t.tgname = $1",
        NOTIFY_TRIGGER)
    for row in tables:
        await partition.execute(f"ALTER TABLE {row['name']} ENABLE ALWAYS TRIGGER"
                                f" {NOTIFY_TRIGGER}")


async def _clear_seeds(partition: asyncpg.Connection) -> None:
    """Before the first copy: the database holds nothing of its own but its migrations' rows
    of the replicated tables (a used database is refused), which central's replace."""
    published = [row["tablename"] for row in await partition.fetch(
        "SELECT tablename FROM pg_publication_tables WHERE pubname = $1",
        REFERENCE_PUBLICATION)]
    used = [table for table in (*published, "transactions", "accounts")
            if table not in SEEDED_TABLES
            and await partition.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})")]
    if used:
        raise PartitionError(
            f"the partition's database is not new: {', '.join(sorted(used))} hold rows;"
            " give the partition a database of its own, empty")
    async with partition.transaction():
        for table in SEEDED_TABLES:
            await partition.execute(f"DELETE FROM {table}")
