"""`jifen clearing status`: per alliance, each date with journal entries, a seal or a run:
open or sealed (when), cleared (by which run), adjusted (how often).

The dates with journal entries are those of every partition (central's on the caller's
connection, each other's in a read-only transaction of its own); seals and runs are central's.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import date, datetime

import anyio
import asyncpg
import msgspec

from clearing.alliance import find_alliance
from clearing.partitions import PartitionSetup, find_partitions, partition_connections, unreadable

# The distinct dates of the journal by a loose index scan (one probe per date, not per entry),
# kept only where the alliance has an entry.
_JOURNAL_DATES_SQL = """
WITH RECURSIVE dates AS (
    (SELECT business_date FROM journal_entries ORDER BY business_date LIMIT 1)
    UNION ALL
    SELECT (SELECT e.business_date FROM journal_entries e
            WHERE e.business_date > d.business_date ORDER BY e.business_date LIMIT 1)
    FROM dates d WHERE d.business_date IS NOT NULL
)
SELECT d.business_date FROM dates d
WHERE d.business_date IS NOT NULL AND EXISTS (
    SELECT 1 FROM journal_entries e
    JOIN transactions t ON t.id = e.transaction_id
    JOIN merchants m ON m.id = t.merchant_id
    WHERE e.business_date = d.business_date AND m.alliance_id = $1)
"""
# One probe per date of a partition's journal: milliseconds; a minute means it hangs.
PARTITION_DATES_S_MAX = 60.0
_SEALED_SQL = """
SELECT business_date, sealed_at, sealed_by FROM business_days WHERE alliance_id = $1
"""
_RUNS_SQL = """
SELECT business_date, min(id) FILTER (WHERE kind = 'run') AS run_id,
       count(*) FILTER (WHERE kind = 'adjustment') AS adjustments
FROM clearing_runs WHERE alliance_id = $1 GROUP BY business_date
"""


class DateStatus(msgspec.Struct, frozen=True):
    alliance: str
    business_date: date
    state: str                      # 'open', 'sealed', 'cleared' or 'adjusted'
    sealed_at: datetime | None
    sealed_by: str | None
    run_id: int | None
    adjustments: int


async def clearing_status(
    conn: asyncpg.Connection, alliance_code: str | None,
    partitions: PartitionSetup | None = None,
) -> list[DateStatus]:
    if alliance_code is None:
        rows = await conn.fetch("SELECT code FROM alliances ORDER BY code")
        codes = [row["code"] for row in rows]
    else:
        codes = [alliance_code]
    statuses: list[DateStatus] = []
    found = await find_partitions(conn, partitions)
    async with partition_connections(found) as others, AsyncExitStack() as snapshots:
        for name, other in others.items():
            try:
                await snapshots.enter_async_context(other.transaction(
                    isolation="repeatable_read", readonly=True))
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise unreadable(name, exc) from exc
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            for code in codes:
                statuses += await _alliance_status(conn, code, others)
    return statuses


async def _journal_dates(
    conn: asyncpg.Connection, others: dict[str, asyncpg.Connection], alliance_id: int,
) -> set[date]:
    dates = {row[0] for row in await conn.fetch(_JOURNAL_DATES_SQL, alliance_id)}
    for name, other in others.items():
        try:
            with anyio.fail_after(PARTITION_DATES_S_MAX):
                dates |= {row[0] for row in await other.fetch(_JOURNAL_DATES_SQL, alliance_id)}
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise unreadable(name, exc) from exc
    return dates


async def _alliance_status(
    conn: asyncpg.Connection, code: str, others: dict[str, asyncpg.Connection],
) -> list[DateStatus]:
    alliance = await find_alliance(conn, code)
    journal_dates = await _journal_dates(conn, others, alliance.id)
    sealed = {row[0]: (row[1], row[2]) for row in await conn.fetch(_SEALED_SQL, alliance.id)}
    runs = {row[0]: (row[1], row[2]) for row in await conn.fetch(_RUNS_SQL, alliance.id)}
    statuses = []
    for day in sorted(journal_dates | sealed.keys() | runs.keys()):
        sealed_at, sealed_by = sealed.get(day, (None, None))
        run_id, adjustments = runs.get(day, (None, 0))
        if adjustments:
            state = "adjusted"
        elif run_id is not None:
            state = "cleared"
        else:
            state = "open" if sealed_at is None else "sealed"
        statuses.append(DateStatus(alliance.code, day, state, sealed_at, sealed_by, run_id,
                                   adjustments))
    return statuses
