"""Reading one business date's journal for clearing: read only, aggregated in SQL.

The date's entries are walked in ranges of entry ids (the index on (business_date, id)), each
range aggregated by counter account (kind and owner) in PostgreSQL; the partial sums are
integers, so adding them up in Python is exact. Ranges bound the work of each query and drive
the progress bar. The caller holds one REPEATABLE READ transaction around all of it, so every
range sees the same snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import asyncpg
import msgspec

# Entry-id ranges a date is read in: enough for a smooth progress bar, few enough that the
# per-query overhead is nothing next to 10^7 entries.
ID_RANGES_MAX = 50

_BOUNDS_SQL = """
SELECT min(id), max(id), count(*) FROM journal_entries WHERE business_date = $1
"""
# The alliance's accounts that belong to no card: its merchants' and its own (a few dozen).
_COUNTER_ACCOUNTS_SQL = """
SELECT a.id, a.kind, a.merchant_id FROM accounts a
WHERE a.card_id IS NULL
  AND (a.alliance_id = $1 OR a.merchant_id IN (SELECT id FROM merchants WHERE alliance_id = $1))
"""
# One entry-id range [$2, $3) of the date: driven by the postings' primary key (entry_id
# first), so each range reads only its own postings, whatever the size of the journal. Each
# entry of the host has one counter posting, so the count is the alliance's entries.
_RANGE_SQL = """
SELECT p.account_id, sum(p.amount)::bigint AS amount, count(*) AS postings
FROM postings p
JOIN journal_entries e ON e.id = p.entry_id
WHERE p.entry_id >= $2 AND p.entry_id < $3 AND e.id >= $2 AND e.id < $3
  AND e.business_date = $1 AND p.account_id = ANY($4::bigint[])
GROUP BY p.account_id
"""
# Financial transactions per merchant where they were made (the terminal's merchant): those of
# the date that moved the member's points or stored value, i.e. posted an entry
# (docs/ledger.md); a reversal counts -1, as it undoes its original's.
_TRANSACTIONS_SQL = """
SELECT merchant_id, sum(CASE WHEN kind = 'reversal' THEN -1 ELSE 1 END)::bigint
FROM transactions
WHERE business_date = $1 AND merchant_id = ANY($2::integer[])
  AND (points <> 0 OR stored_value_fen <> 0)
GROUP BY merchant_id
"""

Progress = Callable[[int, int], None]   # (entry ids done, entry ids in all)


class DayJournal(msgspec.Struct):
    """What clearing needs of one date: per (account kind, merchant id or None for the
    alliance) the sum of postings and their count, and financial transactions per merchant."""

    totals: dict[tuple[str, int | None], tuple[int, int]]
    transactions: dict[int, int]
    journal_entries: int                 # entries of the date, all alliances
    postings: int                        # counter postings of this alliance

    def amount(self, kind: str, merchant_id: int | None) -> int:
        return self.totals.get((kind, merchant_id), (0, 0))[0]

    def count(self, kind: str, merchant_id: int | None) -> int:
        return self.totals.get((kind, merchant_id), (0, 0))[1]


async def read_day(
    conn: asyncpg.Connection, alliance_id: int, merchant_ids: list[int], day: date,
    progress: Progress | None = None,
) -> DayJournal:
    """Aggregate the date; call inside a REPEATABLE READ transaction."""
    # Plan each range for its own bounds: a generic plan of the prepared statement (chosen
    # after a few executions) may walk every posting of the counter accounts instead.
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    bounds = await conn.fetchrow(_BOUNDS_SQL, day)
    assert bounds is not None, "an aggregate gives one row"
    low, high, entries = bounds
    counters = {row["id"]: (row["kind"], row["merchant_id"])
                for row in await conn.fetch(_COUNTER_ACCOUNTS_SQL, alliance_id)}
    totals: dict[tuple[str, int | None], tuple[int, int]] = {}
    postings = 0
    if entries and counters:
        span = high + 1 - low
        step = -(-span // ID_RANGES_MAX)
        for start in range(low, high + 1, step):
            for account_id, amount, count in await conn.fetch(
                    _RANGE_SQL, day, start, start + step, list(counters)):
                key = counters[account_id]
                before_amount, before_count = totals.get(key, (0, 0))
                totals[key] = (before_amount + amount, before_count + count)
                postings += count
            if progress is not None:
                progress(min(start + step, high + 1) - low, span)
    transactions = {merchant_id: count for merchant_id, count
                    in await conn.fetch(_TRANSACTIONS_SQL, day, merchant_ids)}
    return DayJournal(totals, transactions, entries, postings)


def merge_days(days: list[DayJournal]) -> DayJournal:
    """The date over every partition: integer sums and counts added, nothing rounded (prices
    apply once, to the total: docs/clearing.md, "Rounding")."""
    totals: dict[tuple[str, int | None], tuple[int, int]] = {}
    transactions: dict[int, int] = {}
    for journal in days:
        for key, (amount, count) in journal.totals.items():
            before_amount, before_count = totals.get(key, (0, 0))
            totals[key] = (before_amount + amount, before_count + count)
        for merchant_id, count in journal.transactions.items():
            transactions[merchant_id] = transactions.get(merchant_id, 0) + count
    return DayJournal(totals, transactions, sum(day.journal_entries for day in days),
                      sum(day.postings for day in days))
