"""The terminal reconciliation section of the report: each terminal batch of the business date
that was out of balance (its 0500 answered 95) or never reconciled (no 0500 closed it).

A batch is of the date when it holds transactions of the date, or when its 0500 came within
the date (from the previous day's cutover to the date's own). The batch a transaction belongs
to is its terminal_batches row of the same terminal and number that closed first after the
transaction was posted, or the open one; the host writes a terminal's first batch only when it
closes, so a batch with no row at all was never closed either (account_host/transactions/
reconciliation.py). Read only: one query, through the index on transactions' business date.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import asyncpg

from clearing.alliance import ClearingAlliance
from clearing.reports.model import NOT_RECONCILED, OUT_OF_BALANCE, BatchIssue

OUT_OF_BALANCE_CODE = "95"   # host interface §4: 0510 answered 95, totals differ

# $1 the merchant ids, $2 business date, $3 [start, $4 end) of the date, $5 '95'. The date's
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
           b.result_code
    FROM day_batches d
    LEFT JOIN LATERAL (
        SELECT opened_at, closed_at, result_code FROM terminal_batches b
        WHERE b.terminal_code = d.terminal_code AND b.batch_number = d.batch_number
          AND (b.closed_at IS NULL OR b.closed_at >= d.first_posted_at)
        ORDER BY b.closed_at NULLS LAST LIMIT 1
    ) b ON true
),
closed_in_day AS (
    SELECT b.terminal_code, b.batch_number, 0::bigint AS transactions, b.opened_at,
           b.closed_at, b.result_code
    FROM terminal_batches b JOIN alliance_terminals a ON a.terminal_code = b.terminal_code
    WHERE b.result_code = $5 AND b.closed_at >= $3 AND b.closed_at < $4
)
SELECT i.terminal_code, a.merchant_code, i.batch_number, i.opened_at, i.closed_at,
       i.result_code, max(i.transactions) AS transactions
FROM (SELECT * FROM with_rows
      WHERE closed_at IS NULL OR result_code = $5
      UNION ALL
      SELECT * FROM closed_in_day) i
JOIN alliance_terminals a ON a.terminal_code = i.terminal_code
GROUP BY i.terminal_code, a.merchant_code, i.batch_number, i.opened_at, i.closed_at,
         i.result_code
ORDER BY a.merchant_code, i.terminal_code, i.batch_number, i.opened_at
"""


def day_span(alliance: ClearingAlliance, day: date) -> tuple[datetime, datetime]:
    """[start, end) of the business date: from the previous day's cutover to its own."""
    return alliance.closes_at(day - timedelta(days=1)), alliance.closes_at(day)


async def batch_issues(
    conn: asyncpg.Connection, alliance: ClearingAlliance, day: date, merchant_id: int | None,
) -> list[BatchIssue]:
    start, end = day_span(alliance, day)
    if merchant_id is None:
        merchant_ids = [row[0] for row in await conn.fetch(
            "SELECT id FROM merchants WHERE alliance_id = $1", alliance.id)]
    else:
        merchant_ids = [merchant_id]
    rows = await conn.fetch(_BATCHES_SQL, merchant_ids, day, start, end, OUT_OF_BALANCE_CODE)
    return [BatchIssue(
        terminal=row["terminal_code"], merchant=row["merchant_code"],
        batch_number=row["batch_number"],
        state=OUT_OF_BALANCE if row["closed_at"] is not None else NOT_RECONCILED,
        opened_at=row["opened_at"], closed_at=row["closed_at"],
        result_code=row["result_code"], transactions=row["transactions"]) for row in rows]
