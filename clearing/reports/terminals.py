"""The terminal reconciliation section of the report: each terminal batch of the business date
that was out of balance (its 0500 answered 95) or never reconciled (no 0500 closed it), judged
over every partition (`batch_parts.py`).

A batch is of the date when it holds transactions of the date, or when its 0500 came within
the date (from the previous day's cutover to the date's own). The batch a transaction belongs
to is its terminal_batches row of the same terminal and number that closed first after the
transaction was posted, or the open one; the host writes a terminal's first batch only when it
closes, so a batch with no row at all was never closed either (account_host/transactions/
reconciliation.py). Read only: one query a partition, through the index on transactions'
business date; every batch of the date is read, and judged once all its parts are in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

import asyncpg

from clearing.alliance import ClearingAlliance
from clearing.partition_reads import on_every_other
from clearing.reports.batch_parts import BatchPart, batch_issues_of
from clearing.reports.model import BatchIssue

# $1 the merchant ids, $2 business date, $3 [start, $4 end) of the date. The date's
# transactions are filtered by merchant (a transaction's merchant is its terminal's), not
# joined to the terminals: the planner underestimates an alliance's terminals and would walk
# each terminal's transactions of all dates through the (terminal, batch) index, one random
# heap fetch each (68 s at 4.4 million transactions instead of seconds).
_BATCHES_SQL = """
WITH alliance_terminals AS (
    SELECT t.terminal_code, m.merchant_code
    FROM terminals t JOIN merchants m ON m.id = t.merchant_id
    WHERE m.id = ANY($1::integer[])
),
day_batches AS MATERIALIZED (
    SELECT x.terminal_code, x.batch_number, count(*) AS transactions,
           min(x.posted_at) AS first_posted_at
    FROM transactions x
    WHERE x.business_date = $2 AND x.batch_number IS NOT NULL
      AND x.merchant_id = ANY($1::integer[])
    GROUP BY x.terminal_code, x.batch_number
),
with_rows AS (
    SELECT d.terminal_code, d.batch_number, d.transactions, b.opened_at, b.closed_at,
           b.result_code, b.claimed, b.counted
    FROM day_batches d
    LEFT JOIN LATERAL (
        SELECT opened_at, closed_at, result_code, claimed, counted FROM terminal_batches b
        WHERE b.terminal_code = d.terminal_code AND b.batch_number = d.batch_number
          AND (b.closed_at IS NULL OR b.closed_at >= d.first_posted_at)
        ORDER BY b.closed_at NULLS LAST LIMIT 1
    ) b ON true
),
closed_in_day AS (
    SELECT b.terminal_code, b.batch_number, 0::bigint AS transactions, b.opened_at,
           b.closed_at, b.result_code, b.claimed, b.counted
    FROM terminal_batches b JOIN alliance_terminals a ON a.terminal_code = b.terminal_code
    WHERE b.closed_at >= $3 AND b.closed_at < $4
)
SELECT i.terminal_code, a.merchant_code, i.batch_number, i.opened_at, i.closed_at,
       i.result_code, i.claimed, i.counted, max(i.transactions) AS transactions
FROM (SELECT * FROM with_rows UNION ALL SELECT * FROM closed_in_day) i
JOIN alliance_terminals a ON a.terminal_code = i.terminal_code
GROUP BY i.terminal_code, a.merchant_code, i.batch_number, i.opened_at, i.closed_at,
         i.result_code, i.claimed, i.counted
"""


def day_span(alliance: ClearingAlliance, day: date) -> tuple[datetime, datetime]:
    """[start, end) of the business date: from the previous day's cutover to its own."""
    return alliance.closes_at(day - timedelta(days=1)), alliance.closes_at(day)


async def batch_issues(
    conn: asyncpg.Connection, alliance: ClearingAlliance, day: date, merchant_id: int | None,
    others: Mapping[str, asyncpg.Connection] | None = None,
) -> list[BatchIssue]:
    """The date's batches at issue, from central (`conn`, in the caller's read-only
    transaction) and every other partition (`others`, by name); a partition that fails
    refuses the report."""
    start, end = day_span(alliance, day)
    if merchant_id is None:
        merchant_ids = [row[0] for row in await conn.fetch(
            "SELECT id FROM merchants WHERE alliance_id = $1", alliance.id)]
    else:
        merchant_ids = [merchant_id]
    parts = await _parts(conn, merchant_ids, day, start, end)
    for found in await on_every_other(
            others or {}, lambda connection: _parts(connection, merchant_ids, day, start, end)):
        parts += found
    return batch_issues_of(parts)


async def _parts(
    conn: asyncpg.Connection, merchant_ids: list[int], day: date, start: datetime,
    end: datetime,
) -> list[BatchPart]:
    rows = await conn.fetch(_BATCHES_SQL, merchant_ids, day, start, end)
    return [BatchPart(
        terminal=row["terminal_code"], merchant=row["merchant_code"],
        batch_number=row["batch_number"], opened_at=row["opened_at"],
        closed_at=row["closed_at"], result_code=row["result_code"],
        claimed=None if row["claimed"] is None else tuple(row["claimed"]),
        counted=None if row["counted"] is None else tuple(row["counted"]),
        transactions=row["transactions"]) for row in rows]
