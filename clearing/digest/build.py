"""Building the daily digest of one alliance's business date (docs/reports.md).

Read only, over every partition (`reading.py`), each partition in one REPEATABLE READ READ
ONLY transaction: central's also holds what only it has (the members created on the date,
the terminal batches, the settlement rule that prices the liability). Any date may be read,
sealed or not: an open date's figures are what has posted so far.

The risk queue is the reviews open when the digest is made (`risk.py`), over every partition.
"""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from clearing.alliance import ClearingAlliance, find_alliance
from clearing.digest.figures import day_flows, top_merchants, value_fen
from clearing.digest.model import DailyDigest, Liability, TrendDay
from clearing.digest.reading import Read, dates_ending, read_everywhere
from clearing.digest.risk import risk_queue
from clearing.partitions import PartitionSetup, find_partitions, partition_connections
from clearing.reports.terminals import batch_issues, day_span
from clearing.rules import rules_in_force

# The trend's dates at most: a year of daily figures is a chart still; more is a query that
# reads years of journal for a picture nobody reads.
TREND_DAYS_MAX = 366

_MERCHANTS_SQL = "SELECT id, merchant_code, name FROM merchants WHERE alliance_id = $1"
# Through the index members (alliance_id, created_at) (migration 037).
_NEW_MEMBERS_SQL = """
SELECT count(*) FROM members WHERE alliance_id = $1 AND created_at >= $2 AND created_at < $3
"""


async def build_digest(
    conn: asyncpg.Connection, alliance_code: str, day: date, now: datetime,
    partitions: PartitionSetup | None = None, trend_days: int = 0,
) -> DailyDigest:
    """The digest of `day`, with a trend of `trend_days` dates ending with it (0: none)."""
    assert 0 <= trend_days <= TREND_DAYS_MAX, "the CLI checks the trend's length"
    alliance = await find_alliance(conn, alliance_code)
    found = await find_partitions(conn, partitions)
    async with partition_connections(found) as others:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            merchants = {row["id"]: (row["merchant_code"], row["name"])
                         for row in await conn.fetch(_MERCHANTS_SQL, alliance.id)}
            dates = dates_ending(day, max(trend_days, 1))
            read = await read_everywhere(conn, others, found.central, alliance.id,
                                         sorted(merchants), dates)
            rules = await rules_in_force(conn, alliance.id, day)
            members_new = await new_members(conn, alliance, day)
            batches = await batch_issues(conn, alliance, day, None, others)
            queue = await risk_queue(conn, others, alliance.id)
    price = rules.alliance.issue_price_fen
    journal = read.days[day]
    return DailyDigest(
        alliance=alliance.code, business_date=day, generated_at=now, partitions=found.names,
        members_active=len(read.active_member_ids), members_new=members_new,
        flows=day_flows(journal, sorted(merchants)),
        liability=Liability(read.liability_points, str(price),
                            value_fen(read.liability_points, price)),
        top_merchants=top_merchants(journal, merchants), terminal_batches=batches,
        risk_queue=queue,
        trend=trend(read, sorted(merchants)) if trend_days else [])


async def new_members(conn: asyncpg.Connection, alliance: ClearingAlliance, day: date) -> int:
    """Members of the alliance created within the business date (cutover to cutover)."""
    start, end = day_span(alliance, day)
    count = await conn.fetchval(_NEW_MEMBERS_SQL, alliance.id, start, end)
    assert isinstance(count, int), "count(*) gives an integer"
    return count


def trend(read: Read, merchant_ids: list[int]) -> list[TrendDay]:
    """Each date's flows and the liability at its end: the last date's liability less the
    changes of the dates after it (each entry sums to zero, so nothing else moves it)."""
    days: list[TrendDay] = []
    liability = read.liability_points
    for day in sorted(read.days, reverse=True):
        flows = day_flows(read.days[day], merchant_ids)
        days.append(TrendDay(day, flows, liability))
        liability -= flows.liability_change
    return days[::-1]
