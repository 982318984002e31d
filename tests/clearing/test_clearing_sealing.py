"""Sealing a date, end to end: the host stops posting to it, and a late 0420 reversal or 0220
advice lands on the open date and references its original; the sealed date's clearing does
not change."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from clearing import run_clearing, verify_clearing
from devices import messages
from tests.clearing.clearing_kit import ALLIANCE, fresh_date, move_host_past, seal
from tests.e2e.system import CARDS, SECOND_TERMINAL, running_system

pytestmark = pytest.mark.anyio


async def test_late_arrivals_post_to_the_open_date_and_name_their_original(database_url):
    async with running_system(database_url) as system, \
            system.terminal(SECOND_TERMINAL) as probe, system.terminal() as terminal:
        await probe.sign_on()
        await terminal.sign_on()
        day = await fresh_date(system, probe)
        purchase = await terminal.exchange(messages.purchase(CARDS[0], 5_000, 1))
        assert purchase.answer["39"] == "00"
        entries_before = await system.fetchval(
            "SELECT count(*) FROM journal_entries WHERE business_date = $1", day)

        next_day = await move_host_past(system, probe, day)
        reversal = await terminal.request(messages.reversal(purchase.request, advice=True))
        advice = await terminal.request(messages.offline_purchase_advice(CARDS[1], 700, 1))
        assert (reversal["39"], advice["39"]) == ("00", "00")
        rows = await system.fetch(
            "SELECT t.kind, t.business_date, t.original_transaction_id, o.business_date"
            " AS original_date FROM transactions t"
            " LEFT JOIN transactions o ON o.id = t.original_transaction_id"
            " WHERE t.mti IN ('0420', '0220') ORDER BY t.id")
        assert [tuple(row) for row in rows] == [
            ("reversal", next_day, await system.fetchval(
                "SELECT id FROM transactions WHERE rrn = $1", purchase.answer["37"]), day),
            ("offline_purchase", next_day, None, None)]
        assert await system.fetchval(
            "SELECT count(*) FROM journal_entries WHERE business_date = $1", day
        ) == entries_before
        assert await system.fetchval(
            "SELECT count(*) FROM journal_entries WHERE business_date = $1", next_day) == 2

    await seal(database_url, next_day)
    connection = await asyncpg.connect(database_url)
    try:
        first = await run_clearing(connection, ALLIANCE, day)
        second = await run_clearing(connection, ALLIANCE, next_day)
        assert (await verify_clearing(connection, ALLIANCE, day)).identical
    finally:
        await connection.close()
    # The purchase issued 50 points on D; its reversal and the advice's 7 posted on D + 1,
    # where the two count 1 - 1 = 0 transactions (no commission line: all zero).
    assert [(p.merchant, p.category, p.points) for p in first.positions] == [
        ("MERCHANT0000001", "points_issued", 50), ("MERCHANT0000001", "commission", 0)]
    assert [(p.category, p.points, p.count) for p in second.positions] == [
        ("points_issued", -50 + 7, 2)]
    assert next_day == day + timedelta(days=1)
