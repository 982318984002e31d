"""The synthetic journal of the clearing benchmark (loadtest/journal_gen.py) is one the host
could have written: it passes `jifen audit`, has every transaction kind, lies within its
business date, and leaves host_counters past its ids."""

from __future__ import annotations

from datetime import date, time

import asyncpg
import pytest

from back_office.ledger_check import audit_connection
from loadtest.journal_day import MIX, day_bounds
from loadtest.journal_gen import JournalGenError, JournalShape, generate_journal

pytestmark = pytest.mark.anyio

DAY = date(2026, 11, 20)
SHAPE = JournalShape(business_date=DAY, postings=6_000, alliance_code="GENTEST", merchants=3,
                     terminals_per_merchant=2, cards=40, out_of_balance_every=3,
                     unreconciled_every=5)


async def test_a_small_generated_day_passes_the_audit(database_url):
    connection = await asyncpg.connect(database_url)
    try:
        summary = await generate_journal(connection, SHAPE)
        report = await audit_connection(connection)
        dates = await connection.fetch(
            "SELECT DISTINCT business_date FROM journal_entries UNION "
            "SELECT DISTINCT business_date FROM transactions")
        posted = await connection.fetchrow(
            "SELECT min(posted_at) AS first, max(posted_at) AS last FROM transactions")
        counters = await connection.fetchval(
            "SELECT next_value FROM host_counters WHERE name = 'transaction'")
        highest = await connection.fetchval("SELECT max(id) FROM transactions")
        batches = await connection.fetch(
            "SELECT result_code, count(*) FROM terminal_batches WHERE batch_number = 1 "
            "GROUP BY result_code")
    finally:
        await connection.close()
    assert report.clean, [violation.describe() for violation in report.violations()]
    assert summary.postings >= SHAPE.postings
    assert report.counts.postings == summary.postings
    assert report.counts.transactions == summary.transactions
    assert set(summary.kinds) == {kind for kind, _ in MIX}
    assert [row[0] for row in dates] == [DAY]
    start, end = day_bounds(DAY, "Asia/Shanghai", time(23, 0))
    assert start <= posted["first"] and posted["last"] < end
    assert counters > highest
    # 6 terminals: indexes 2 and 5 are every third (95), index 4 every fifth (never closed)
    assert {row[0]: row[1] for row in batches} == {"00": 3, "95": 2, None: 1}


async def test_an_existing_alliance_code_is_refused(database_url):
    connection = await asyncpg.connect(database_url)
    try:
        await generate_journal(connection, SHAPE)
        with pytest.raises(JournalGenError, match="exists"):
            await generate_journal(connection, SHAPE)
    finally:
        await connection.close()
