"""What the tests of reports, settlement files and the nightly share: a small generated day
(loadtest/journal_gen.py) of alliance RPT, with a settlement rule, sealed and cleared."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg

from clearing import close_day, run_clearing
from loadtest.journal_gen import JournalShape, JournalSummary, generate_journal

ALLIANCE = "RPT"
# A date long closed whatever the hour: sealing it needs no clock moved.
DAY = datetime.now(UTC).date() - timedelta(days=10)
# 6 terminals: indexes 2 and 5 close 95 (every third), index 4 never closes (every fifth).
TERMINALS_OUT_OF_BALANCE = (2, 5)
TERMINALS_NOT_RECONCILED = (4,)


def shape(day: date = DAY) -> JournalShape:
    return JournalShape(business_date=day, postings=3_000, alliance_code=ALLIANCE,
                        merchants=3, terminals_per_merchant=2, cards=30,
                        out_of_balance_every=3, unreconciled_every=5)


# 1 fen per point issued, 0.8 fen per point redeemed, HQ keeps 0.5 % and 1 fen a transaction.
RULE_SQL = """
INSERT INTO settlement_rules (alliance_id, merchant_id, effective_from, issue_price_fen,
                              redemption_rate_fen, commission_bp, commission_fen_per_txn)
SELECT id, NULL, DATE '2000-01-01', 1, 0.8, 50, 1 FROM alliances WHERE code = $1
"""


async def generated_day(database_url: str, day: date = DAY) -> JournalSummary:
    connection = await asyncpg.connect(database_url)
    try:
        summary = await generate_journal(connection, shape(day))
        await connection.execute(RULE_SQL, ALLIANCE)
    finally:
        await connection.close()
    return summary


async def cleared_day(database_url: str, day: date = DAY) -> JournalSummary:
    """The generated day, sealed and cleared by the first run."""
    summary = await generated_day(database_url, day)
    connection = await asyncpg.connect(database_url)
    try:
        await close_day(connection, ALLIANCE, day, datetime.now(UTC), "test")
        await run_clearing(connection, ALLIANCE, day)
    finally:
        await connection.close()
    return summary
