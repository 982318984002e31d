"""Property: for random days of traffic (journal rows written by SQL in the host's shape, see
synthetic.py) and random rules, the clearing finds exactly the day's postings, prices them
as an independent model does (fractions, not decimals), its nets sum to zero, and verify
recomputes it identically (and adjust finds nothing to adjust)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from back_office.provisioning.settlement_rules import set_rule
from clearing import adjust_clearing, close_day, run_clearing, verify_clearing
from tests.clearing.synthetic import ALLIANCE, Day, Journal

FIRST_DATE = date(2030, 1, 1)
# A clock at which every date these tests use is long closed.
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)

operations = st.lists(st.tuples(
    st.sampled_from(["purchase", "redemption", "load", "spend", "exchange", "reverse"]),
    st.integers(0, 2), st.integers(0, 3), st.integers(0, 50_000)), max_size=30)
prices = st.decimals(min_value=0, max_value=5, places=3, allow_nan=False)
rules = st.tuples(prices, prices, st.integers(0, 500), prices)


def round_half_up(value: Fraction) -> int:
    """Ties away from zero, as docs/clearing.md says."""
    magnitude = (abs(value) * 2 + 1) // 2
    return int(magnitude if value >= 0 else -magnitude)


def expected_amounts(day: Day, rule: tuple, merchant_id: int) -> dict[str, int]:
    issue, redemption, bp, per_txn = (Fraction(str(rule[0])), Fraction(str(rule[1])),
                                      rule[2], Fraction(str(rule[3])))
    issued = -day.totals["merchant_points_issued", merchant_id]
    redeemed = day.totals["merchant_points_redeemed", merchant_id]
    spent = day.totals["merchant_stored_value_spent", merchant_id]
    commission = ((redeemed * redemption + spent) * bp / 10_000
                  + per_txn * day.financial[merchant_id])
    return {
        "points_issued": -round_half_up(issued * issue),
        "points_redeemed": round_half_up(redeemed * redemption),
        "stored_value_loaded": day.totals["merchant_stored_value_loaded", merchant_id],
        "stored_value_spent": spent,
        "commission": -round_half_up(commission),
    }


def test_random_days_clear_to_zero_and_recompute_identically(database_url, run_async):
    journal = run_async(_create_journal, database_url)
    days = iter(FIRST_DATE + timedelta(days=n) for n in range(10_000))

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(day_operations=operations, rule=rules)
    def check(day_operations, rule) -> None:
        # A new date per example: what earlier examples wrote stays, as a real journal does.
        run_async(_clear_one_day, database_url, journal, next(days), day_operations, rule)

    check()


async def _create_journal(database_url: str) -> Journal:
    connection = await asyncpg.connect(database_url)
    try:
        return await Journal.create(connection)
    finally:
        await connection.close()


async def _clear_one_day(database_url, journal, business_date, day_operations, rule):
    connection = await asyncpg.connect(database_url)
    try:
        await _check_day(connection, journal, business_date, day_operations, rule)
    finally:
        await connection.close()


async def _check_day(connection, journal, business_date, day_operations, rule):
    codes = {row[0]: row[1] for row in await connection.fetch(
        "SELECT id, merchant_code FROM merchants WHERE alliance_id = $1", journal.alliance_id)}
    day = Day(journal, business_date)
    for operation in day_operations:
        day.apply(*operation)
    await day.write(connection)
    await set_rule(connection, ALLIANCE, None, business_date, str(rule[0]), str(rule[1]),
                   rule[2], str(rule[3]))
    await close_day(connection, ALLIANCE, business_date, FAR_FUTURE, "test")
    result = await run_clearing(connection, ALLIANCE, business_date)

    assert sum(net.net_fen for net in result.nets) == 0
    found = {(p.merchant, p.category): p for p in result.positions}
    for merchant_id, code in codes.items():
        for category, amount in expected_amounts(day, rule, merchant_id).items():
            position = found.get((code, category))
            assert (position.amount_fen if position else 0) == amount, (code, category)
    exchanged = found.get(("HQ", "points_exchanged"))
    assert (exchanged.points if exchanged else 0) == \
        day.totals["alliance_points_exchanged", journal.alliance_id]
    assert (exchanged.amount_fen if exchanged else 0) == \
        day.totals["alliance_stored_value_exchange", journal.alliance_id]

    verified = await verify_clearing(connection, ALLIANCE, business_date)
    assert verified.identical, verified.differences
    assert await adjust_clearing(connection, ALLIANCE, business_date, "re-run") is None
