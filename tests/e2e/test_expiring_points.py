"""Expiring points over TCP (docs/rules.md, "Expiring points"): purchases make lots, tag XP
warns in the 0110, a redemption spans lots oldest first and its reversal gives them back, and
`jifen rules expire` books what expired to breakage, once, which clearing's breakage line
then shows. Time passing is the journal's lots moved back by SQL while the system is down."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from devices import messages
from devices.terminal_client import TerminalClient
from proto.fields import parse_tlv
from proto.lots import read_lots, write_lots
from tests.clearing.clearing_kit import seal
from tests.e2e.cli_output import json_document
from tests.e2e.system import CARDS, MERCHANT, TERMINAL, running_system, seed
from tests.e2e.test_lifecycle import cli, refused
from tests.e2e.test_transactions import POINTS, balances, points_tag
from tests.provisioning.conftest import jifen

pytestmark = pytest.mark.anyio

__all__ = ["jifen"]  # the fixture, for these tests

RULES = """
[expiry]
months = 12          # earned in a month: spendable until the end of that month next year
warning_days = 30
"""


def _today() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()


def _year_on(day: date) -> date:
    """The lot's last day of points earned on `day`: the end of its month a year on."""
    first_after = date(day.year + 1 + day.month // 12, day.month % 12 + 1, 1)
    return first_after - timedelta(days=1)


async def _lots(url: str, pan_rrn: str) -> dict[date, int]:
    """The points account's lots as the host wrote them, of the card of a transaction."""
    connection = await asyncpg.connect(url)
    try:
        packed = await connection.fetchval(
            "SELECT a.lots FROM accounts a JOIN transactions t ON t.card_id = a.card_id"
            " WHERE t.rrn = $1 AND a.kind = 'member_points'", pan_rrn)
    finally:
        await connection.close()
    return dict(read_lots(packed))


async def _move_lots(url: str, pan_rrn: str, lots: dict[date, int]) -> None:
    """Time passes: the card's lots now end on other days (the system is down)."""
    packed = write_lots(list(lots.items()))
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "UPDATE accounts a SET lots = $2, lots_expire_first = $3 FROM transactions t"
            " WHERE t.rrn = $1 AND t.card_id = a.card_id AND a.kind = 'member_points'",
            pan_rrn, packed, min(lots))
    finally:
        await connection.close()


async def test_lots_warning_spending_and_expiry(jifen, database_url, tmp_path) -> None:
    pan, today = CARDS[0], _today()
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    await seed(database_url)
    async with running_system(database_url, seeded=False) as system, \
            system.terminal() as terminal:
        await terminal.sign_on()
        await cli(jifen, "rules", "set", "--alliance", "TEST", "--effective", today.isoformat(),
                  "--file", str(rules))
        first = await _earn_once_rules_apply(system, terminal, pan)
    rrn = first["37"]
    assert await _lots(database_url, rrn) == {_year_on(today): 100}
    soon = today + timedelta(days=3)
    await _move_lots(database_url, rrn, {soon: 100})   # earned a year ago, ends in 3 days

    async with running_system(database_url, seeded=False) as system, \
            _till(system, 1_000) as terminal:
        await terminal.sign_on()
        assert points_tag(await terminal.purchase(pan, 5_000)) == "+50"
        inquiry = await terminal.inquiry(pan)
        assert parse_tlv(inquiry["48"])["XP"] == f"{soon:%Y%m%d}{100:012d}"
        # 120 points: the 100 ending soonest, then 20 of this year's 50.
        redemption = await terminal.exchange(messages.redemption(pan, 120, 1))
        assert redemption.answer["39"] == "00"
        assert await _lots(database_url, rrn) == {_year_on(today): 30}
        assert (await terminal.reverse(redemption.request))["39"] == "00"
        assert await _lots(database_url, rrn) == {soon: 100, _year_on(today): 50}
    yesterday = today - timedelta(days=1)
    await _move_lots(database_url, rrn, {yesterday: 100, _year_on(today): 50})

    async with running_system(database_url, seeded=False) as system, \
            _till(system, 2_000) as terminal:
        await terminal.sign_on()
        run = json_document(await _expire(jifen), "[", "]")
        assert [(r["cards"], [c["state"] for c in r["commands"]]) for r in run] == [
            (1, ["done"])]
        assert "100 points of 1 cards expired" in run[0]["commands"][0]["result"]
        assert balances(await terminal.inquiry(pan))[POINTS] == 50
        again = json_document(await _expire(jifen), "[", "]")
        assert again[0]["cards"] == 0 and again[0]["commands"] == []
        day = await system.fetchval(
            "SELECT business_date FROM transactions WHERE kind = 'points_expiry'")
        booked = await system.fetchval(
            "SELECT sum(p.amount) FROM postings p JOIN accounts a ON a.id = p.account_id"
            " JOIN journal_entries e ON e.id = p.entry_id JOIN transactions t"
            " ON t.id = e.transaction_id WHERE t.kind = 'points_expiry'"
            " AND a.kind = 'alliance_breakage'")
        assert booked == 100
    assert await _lots(database_url, rrn) == {_year_on(today): 50}
    await seal(database_url, day)
    cleared = await cli(jifen, "clearing", "run", "--alliance", "TEST", "--date", str(day),
                        "--json")
    breakage = [p for p in json.loads(cleared)["positions"] if p["category"] == "breakage"]
    assert [(p["points"], p["count"]) for p in breakage] == [(100, 1)]
    await cli(jifen, "audit")   # exits 0 only on a sound ledger
    dates = ("--from", str(day - timedelta(days=2)), "--to", str(day))
    statement = json.loads(await cli(jifen, "card", "statement", "--pan", pan, *dates,
                                     "--format", "json"))
    assert statement["expiring"] == [{"last_day": _year_on(today).isoformat(), "points": 50}]
    assert f"points expiring (now): 50 until {_year_on(today)}" in await cli(
        jifen, "card", "statement", "--pan", pan, *dates)
    assert "is after today" in await refused(
        jifen, "rules", "expire", "--alliance", "TEST", "--date",
        (today + timedelta(days=2)).isoformat())


async def _earn_once_rules_apply(system, terminal, pan: str) -> dict:
    """A purchase of 100 yuan once the rules reached the host (its lot has a last day)."""
    for _ in range(100):
        answer = await terminal.purchase(CARDS[1], 100)   # a probe on another card
        lots = await _lots(system.database_url, answer["37"])
        if lots:
            break
    else:
        raise AssertionError("the expiry rules never reached the host")
    answer = await terminal.purchase(pan, 10_000)
    assert points_tag(answer) == "+100"
    return answer


def _till(system, stan_start: int) -> TerminalClient:
    """The till again after a restart, with STANs of its own (the first ones would be 94)."""
    return TerminalClient("127.0.0.1", system.front.port, terminal_code=TERMINAL,
                          merchant_code=MERCHANT, stan_start=stan_start)


async def _expire(jifen) -> str:
    return await cli(jifen, "rules", "expire", "--alliance", "TEST", "--json")
