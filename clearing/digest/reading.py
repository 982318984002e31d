"""Reading the digest's dates over every partition (docs/plans/partitions.md §2): central's
journal on the caller's connection, each other partition's on one of its own, each in one
REPEATABLE READ READ ONLY transaction for all it reads, all at once, then added up.

Per partition, in its one snapshot: each date's sums on the alliance's counter accounts
(clearing's `read_day`), the members who transacted at a terminal on the date, and the points
counter accounts' balances less what was posted to them after the date. The balances and the
later postings must share a snapshot: the host goes on posting to the open date meanwhile.
The liability needs no walk over the whole journal: the counter accounts are a few dozen rows,
the entries after the date are found through the index on (business_date, id), and their
postings to the counters read through (account_id, entry_id) over that id range: work in
proportion to what posted after the date (the open day's, for the nightly), never to the
journal's age.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import asyncpg
import msgspec

from clearing.journal import DayJournal, merge_days, read_day
from clearing.partition_reads import on_every_partition

# One partition's read: a few dates of 10^7 postings take minutes; an hour means it hangs.
PARTITION_READ_TIMEOUT_S = 3_600.0

# The points ledger's counter kinds (account_host/chart.py): every points entry posts one of
# them against a member's account, or moves points between a member and the alliance's
# in-transit account (a transfer between partitions, which is left out: those points are still
# owed), so the points owed are minus their sum.
POINTS_COUNTER_KINDS = [
    "merchant_points_issued", "merchant_points_redeemed", "alliance_points_exchanged",
    "alliance_breakage", "alliance_points_adjusted", "alliance_points_bonus",
    "alliance_points_lottery",
]

# $1 alliance id, $2 POINTS_COUNTER_KINDS: through the accounts' unique (kind, card_id, ...)
# index, a few dozen rows.
_COUNTERS_SQL = """
SELECT a.id, a.balance FROM accounts a
WHERE a.kind = ANY($2::text[]) AND a.card_id IS NULL
  AND (a.alliance_id = $1 OR a.merchant_id IN (SELECT id FROM merchants WHERE alliance_id = $1))
"""
# The entries after the date: their id range, from the index on (business_date, id) alone
# (OFFSET 0 keeps the planner from taking min(id) off the primary key instead, which walks
# every entry before the date).
_LATER_BOUNDS_SQL = """
SELECT min(id), max(id)
FROM (SELECT id FROM journal_entries WHERE business_date > $1 OFFSET 0) AS later
"""
# What the counters were posted after the date ($1), driven by the postings' primary key over
# the later entries' id range [$2, $3] (as clearing reads a date, journal.py): joined the
# other way, the planner walks every posting the counter accounts ever had.
_LATER_SQL = """
SELECT coalesce(sum(p.amount), 0)::bigint
FROM postings p JOIN journal_entries e ON e.id = p.entry_id
WHERE p.entry_id >= $2 AND p.entry_id <= $3 AND e.id >= $2 AND e.id <= $3
  AND e.business_date > $1 AND p.account_id = ANY($4::bigint[])
"""
# $1 the date, $2 alliance id: members of the alliance whose cards posted an entry at a
# terminal on the date (an expiry sweep or a back-office change is not the member's doing).
_ACTIVE_MEMBERS_SQL = """
SELECT DISTINCT c.member_id
FROM transactions t JOIN cards c ON c.id = t.card_id
WHERE t.business_date = $1 AND t.terminal_code IS NOT NULL
  AND (t.points <> 0 OR t.stored_value_fen <> 0)
  AND c.alliance_id = $2 AND c.member_id IS NOT NULL
"""


class PartitionPart(msgspec.Struct):
    """What one partition holds of the digest's dates."""

    days: dict[date, DayJournal]
    counters_points: int             # the points counter accounts' postings through the date
    active_member_ids: set[int]


class Read(msgspec.Struct):
    """Every partition's part added up: integers summed, member ids united (a member's cards
    may be in two partitions)."""

    days: dict[date, DayJournal]
    liability_points: int            # the members' points at the end of the last date
    active_member_ids: set[int]


def dates_ending(day: date, count: int) -> list[date]:
    """`count` dates ending with `day`, oldest first."""
    return [day - timedelta(days=back) for back in range(count - 1, -1, -1)]


async def read_part(
    conn: asyncpg.Connection, alliance_id: int, merchant_ids: list[int], dates: list[date],
) -> PartitionPart:
    """One partition's part; call inside its REPEATABLE READ READ ONLY transaction."""
    days = {day: await read_day(conn, alliance_id, merchant_ids, day) for day in dates}
    last = dates[-1]
    members = {member_id for (member_id,) in
               await conn.fetch(_ACTIVE_MEMBERS_SQL, last, alliance_id)}
    return PartitionPart(days, await counters_through(conn, alliance_id, last), members)


async def counters_through(conn: asyncpg.Connection, alliance_id: int, day: date) -> int:
    """The alliance's points counter accounts' postings up to the end of `day`: their
    balances less what was posted to them after it (the balances and the later postings in
    the caller's one snapshot)."""
    counters = {row["id"]: row["balance"] for row in
                await conn.fetch(_COUNTERS_SQL, alliance_id, POINTS_COUNTER_KINDS)}
    bounds = await conn.fetchrow(_LATER_BOUNDS_SQL, day)
    assert bounds is not None, "an aggregate gives one row"
    low, high = bounds
    later = 0
    if counters and low is not None:
        later = await conn.fetchval(_LATER_SQL, day, low, high, list(counters))
    return sum(counters.values()) - later


async def read_everywhere(
    conn: asyncpg.Connection, others: Mapping[str, asyncpg.Connection], central: str,
    alliance_id: int, merchant_ids: list[int], dates: list[date],
) -> Read:
    """Every partition's part (central's on `conn`, inside the caller's REPEATABLE READ READ
    ONLY transaction); a partition that fails refuses the whole read."""
    parts = await on_every_partition(
        conn, others, central,
        lambda _name, connection: read_part(connection, alliance_id, merchant_ids, dates),
        PARTITION_READ_TIMEOUT_S)
    ordered = [parts[name] for name in (central, *others)]
    active: set[int] = set()
    for part in ordered:
        active |= part.active_member_ids
    return Read(
        days={day: merge_days([part.days[day] for part in ordered]) for day in dates},
        liability_points=-sum(part.counters_points for part in ordered),
        active_member_ids=active,
    )
