"""Where the caps' day and month counters are kept (migration 028): with the balance, on the
card's points account row, written by every earning and every reversal of one, and read back
at start; the journal is summed only for an alliance whose rules did not count all month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from account_host.earning.loading import counted_all_month
from back_office.rules import set_rules
from proto.earn_rules import Caps, EarnRules
from proto.fields import parse_tlv
from tests.account_host.host_harness import CARDS, Terminal, fetch, running_host
from tests.account_host.test_host_ledger import reversal

pytestmark = pytest.mark.anyio

# The seeded merchant earns 1 point a yuan; a card may earn 500 points a day, 800 a month.
CAPS = EarnRules(caps=Caps(per_day=500, per_month=800))


def _today() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()


def _stored(key: int, points: int) -> int:
    return key << 40 | points


async def _caps_since_last_month(url: str) -> None:
    """The caps, as if set before this month began (the back office sets today or later)."""
    connection = await asyncpg.connect(url)
    try:
        await set_rules(connection, "TEST", _today(), CAPS)
        await connection.execute("UPDATE earn_rule_sets SET effective_from = $1",
                                 _today().replace(day=1) - timedelta(days=1))
    finally:
        await connection.close()


def _points(answer_data: str | None) -> str:
    return parse_tlv(answer_data or "")["PT"]


async def test_counts_ride_on_the_balance_and_a_start_reads_them_there(seeded_url: str) -> None:
    await _caps_since_last_month(seeded_url)
    today = _today()
    day, month = today.toordinal(), today.year * 12 + today.month - 1
    pan, terminal = CARDS[0], Terminal()
    async with running_host(seeded_url) as host:
        bought = terminal.purchase(pan, 30_000)
        assert _points((await host.ask(bought)).additional_data) == "+300"
        assert _points((await host.ask(terminal.purchase(pan, 10_000))).additional_data) \
            == "+100"
        assert (await host.ask(reversal(terminal, bought))).response_code == "00"
    rows = await fetch(seeded_url, "SELECT counted_day, counted_month FROM accounts"
                                   " WHERE card_id = 1 AND kind = 'member_points'")
    assert [tuple(row) for row in rows] == [(_stored(day, 100), _stored(month, 100))]
    async with running_host(seeded_url) as host:   # 100 counted: 400 left today
        assert _points((await host.ask(terminal.purchase(pan, 60_000))).additional_data) \
            == "+400"
    # The row, not the journal, is what a start reads: the journal says the day is full
    # (500); a row that says 100 today and 450 this month leaves 350, the month's room.
    connection = await asyncpg.connect(seeded_url)
    try:
        await connection.execute(
            "UPDATE accounts SET counted_day = $1, counted_month = $2 WHERE card_id = 1",
            _stored(day, 100), _stored(month, 450))
    finally:
        await connection.close()
    async with running_host(seeded_url) as host:
        answer = await host.ask(terminal.purchase(pan, 60_000))
        assert _points(answer.additional_data) == "+350"   # the month's 800 - 450


async def test_a_count_of_another_day_or_month_is_no_count(seeded_url: str) -> None:
    await _caps_since_last_month(seeded_url)
    today, terminal = _today(), Terminal()
    async with running_host(seeded_url) as host:
        assert _points((await host.ask(terminal.purchase(CARDS[1], 10_000))).additional_data) \
            == "+100"
    connection = await asyncpg.connect(seeded_url)
    try:   # yesterday's full day, last month's full month
        await connection.execute(
            "UPDATE accounts SET counted_day = $1, counted_month = $2 WHERE card_id = 2",
            _stored(today.toordinal() - 1, 500),
            _stored(today.year * 12 + today.month - 2, 800))
    finally:
        await connection.close()
    async with running_host(seeded_url) as host:
        answer = await host.ask(terminal.purchase(CARDS[1], 60_000))
        assert _points(answer.additional_data) == "+500"


def test_whether_the_rules_counted_all_month() -> None:
    counting, silent = CAPS, EarnRules()
    per_transaction_only = EarnRules(caps=Caps(per_transaction=10))
    today = date(2026, 12, 7)
    first, before = date(2026, 12, 1), date(2026, 11, 20)
    assert counted_all_month([(before, counting)], today)
    assert counted_all_month([(first, counting)], today)
    assert counted_all_month([(before, counting), (date(2026, 12, 5), counting)], today)
    assert counted_all_month([(before, counting), (date(2026, 12, 9), silent)], today)
    assert not counted_all_month([(date(2026, 12, 2), counting)], today)   # from the 2nd
    assert not counted_all_month([(before, silent), (date(2026, 12, 3), counting)], today)
    assert not counted_all_month([(before, counting), (date(2026, 12, 3), silent),
                                  (date(2026, 12, 4), counting)], today)
    assert not counted_all_month([(before, per_transaction_only)], today)
