"""Property: for random days of traffic (journal rows written by SQL in the host's shape,
synthetic.py), some dates apart, the digest's flows are what an independent model of the day
sums, its liability is the model's members' points at the end of the date, both for the
newest date and for the one before (with later postings to take away), and the audit's
figure is the same."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from back_office.ledger_check import audit_connection
from clearing.digest import build_digest
from clearing.digest.model import DayFlows
from tests.clearing.synthetic import ALLIANCE, Day, Journal

FIRST_DATE = date(2031, 1, 1)

operations = st.lists(st.tuples(
    st.sampled_from(["purchase", "redemption", "load", "spend", "exchange", "reverse"]),
    st.integers(0, 2), st.integers(0, 3), st.integers(0, 50_000)), max_size=25)


def model_flows(day: Day, journal: Journal) -> DayFlows:
    def merchants(kind: str) -> int:
        return sum(day.totals[kind, merchant_id] for merchant_id in journal.merchant_ids)

    alliance = journal.alliance_id
    return DayFlows(
        points_issued=-merchants("merchant_points_issued"), points_given=0,
        points_redeemed=merchants("merchant_points_redeemed"),
        points_exchanged=day.totals["alliance_points_exchanged", alliance],
        points_expired=0,
        stored_value_loaded_fen=-merchants("merchant_stored_value_loaded"),
        stored_value_spent_fen=merchants("merchant_stored_value_spent"))


def members_points(journal: Journal) -> int:
    return sum(balance for account_id, balance in journal.balances.items()
               if journal.rows[account_id][2] == "member_points")


def test_random_days_digest_as_the_model_and_the_audit_say(database_url, run_async):
    journal = run_async(_create_journal, database_url)
    assert isinstance(journal, Journal)
    history: list[tuple[date, int]] = []         # (date, the members' points at its end)

    @settings(max_examples=20, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(day_operations=operations, gap_days=st.integers(1, 3))
    def check(day_operations, gap_days) -> None:
        business_date = (history[-1][0] if history else FIRST_DATE) + timedelta(gap_days)
        run_async(_check_day, database_url, journal, business_date, day_operations, history)

    check()


async def _create_journal(database_url: str) -> Journal:
    connection = await asyncpg.connect(database_url)
    try:
        return await Journal.create(connection)
    finally:
        await connection.close()


async def _check_day(database_url: str, journal: Journal, business_date: date,
                     day_operations: list, history: list[tuple[date, int]]) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        day = Day(journal, business_date)
        for operation in day_operations:
            day.apply(*operation)
        await day.write(connection)
        digest = await _digest(connection, business_date)
        assert digest.flows == model_flows(day, journal)
        assert digest.liability.points == members_points(journal)
        audited = {liability.alliance: liability.points
                   for liability in (await audit_connection(connection)).liabilities}
        assert audited.get(ALLIANCE, 0) == digest.liability.points
        if history:
            earlier, points = history[-1]
            assert (await _digest(connection, earlier)).liability.points == points
        history.append((business_date, digest.liability.points))
    finally:
        await connection.close()


async def _digest(connection: asyncpg.Connection, day: date):
    return await build_digest(connection, ALLIANCE, day, datetime.now(UTC))


