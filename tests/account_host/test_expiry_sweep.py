"""The nightly expiry through the host: one sweep command names more cards than an identifier
block serves (the writer reserves by the cards a sweep names), books each card's expired lot
to breakage once, and a second run finds nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from back_office.rules import expire_points, set_rules
from proto.earn_rules import EarnRules, Expiry
from proto.lots import read_lots, write_lots
from tests.account_host.host_harness import CARDS, Terminal, fetch, host_config, running_host

pytestmark = pytest.mark.anyio


async def test_a_sweep_of_more_cards_than_a_block(seeded_url: str) -> None:
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    connection = await asyncpg.connect(seeded_url)
    try:
        await set_rules(connection, "TEST", today, EarnRules(expiry=Expiry(months=1)))
    finally:
        await connection.close()
    terminal = Terminal()
    config = host_config(id_block_size=4)
    async with running_host(seeded_url, config) as host:
        for pan in CARDS:
            assert (await host.ask(terminal.purchase(pan, 1_000))).response_code == "00"
    # Time passes: every card's lot (10 points) ended yesterday.
    await _set_lot_days(seeded_url, today - timedelta(days=1))
    async with running_host(seeded_url, config):
        connection = await asyncpg.connect(seeded_url)
        try:
            run = await expire_points(connection, "TEST", None, 10.0)
            again = await expire_points(connection, "TEST", None, 10.0)
        finally:
            await connection.close()
    assert run.cards == len(CARDS) and [c.state for c in run.commands] == ["done"]
    assert run.commands[0].result == (f"{10 * len(CARDS)} points of {len(CARDS)} cards"
                                      f" expired (last days before {today})")
    assert again.cards == 0 and again.commands == []
    rows = await fetch(seeded_url,
                       "SELECT count(*), sum(points) FROM transactions"
                       " WHERE kind = 'points_expiry'")
    assert tuple(rows[0]) == (len(CARDS), -10 * len(CARDS))
    assert await fetch(seeded_url, "SELECT 1 FROM accounts WHERE lots IS NOT NULL") == []


async def _set_lot_days(url: str, day: date) -> None:
    connection = await asyncpg.connect(url)
    try:
        for account_id, lots in await connection.fetch(
                "SELECT id, lots FROM accounts WHERE lots IS NOT NULL"):
            points = sum(lot_points for _, lot_points in read_lots(lots))
            await connection.execute(
                "UPDATE accounts SET lots = $2, lots_expire_first = $3 WHERE id = $1",
                account_id, write_lots([(day, points)]), day)
    finally:
        await connection.close()
