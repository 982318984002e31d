"""Earn rules over TCP (docs/rules.md): a version set with `jifen rules set` while the system
runs reaches the host at once; a purchase then earns by the merchant's rate, the running
multiplier, a spend threshold and the caps, in PT; a reversal gives the day's room back; a
host started again counts the day from the journal."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import anyio
import asyncpg
import pytest

from devices import messages
from tests.e2e.cli_output import json_document
from tests.e2e.members_kit import member_with_cards
from tests.e2e.system import CARDS, OTHER_MERCHANT, SECOND_TERMINAL, running_system, seed
from tests.e2e.test_lifecycle import cli, refused, until
from tests.e2e.test_transactions import POINTS, balances, points_tag
from tests.provisioning.conftest import jifen

pytestmark = pytest.mark.anyio

__all__ = ["jifen"]  # the fixture, for these tests

RULES = """
[rates.merchants]
MERCHANT0000001 = { points = 3 }          # 3 points per yuan at the tea house
[rates.categories]
books = { points = 1, per_yuan = 10 }     # 1 point per 10 yuan in the books category

[[promotions]]
kind = "multiplier"                       # x2 all week, every hour: it runs now
code = "ALLWEEK"
percent = 200

[[promotions]]
kind = "threshold"                        # 600 yuan or more: 5 points per yuan
code = "BIG"
threshold_fen = 60000
rate = { points = 5 }
merchants = ["MERCHANT0000001"]

[caps]
per_transaction = 2000
per_day = 2500
"""


def _today() -> str:
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()


async def test_a_day_of_purchases_by_the_rules(jifen, database_url, tmp_path) -> None:
    pan = CARDS[0]
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    await seed(database_url)
    async with running_system(database_url, seeded=False) as system, \
            system.terminal() as terminal:
        await terminal.sign_on()
        # No rules yet: the merchant's own rate (1 point per yuan).
        assert points_tag(await terminal.purchase(pan, 10_000)) == "+100"
        out = await cli(jifen, "rules", "set", "--alliance", "TEST", "--effective", _today(),
                        "--file", str(rules))
        assert f"in force from {_today()}" in out
        # They reach the host in a moment: another card shows when (base 300, x2: 600).
        await _purchase_until(terminal, CARDS[1], 10_000, "+600")
        # Base 300, x2: 600. The threshold: 600 yuan at 5 = 3000, x2 = 6000, capped at 2000
        # a purchase and at what is left of the day's 2500: 1800 (the 100 earned before the
        # rules count: they were earned today).
        assert points_tag(await terminal.purchase(pan, 10_000)) == "+600"
        big = await terminal.exchange(messages.purchase(pan, 60_000, 1))
        assert points_tag(big.answer) == "+1800"
        assert points_tag(await terminal.purchase(pan, 10_000)) == "+0"   # the day is full
        reversed_ = await terminal.request(messages.reversal(big.request))
        assert reversed_["39"] == "00"
        assert points_tag(await terminal.purchase(pan, 10_000)) == "+600"
    # Started again: the day so far (100 + 600 + 1800 - 1800 + 0 + 600 = 1300) is read back.
    # (The shop's second till: the first would reuse its STANs, answered 94.)
    async with running_system(database_url, seeded=False) as system, \
            system.terminal(SECOND_TERMINAL) as terminal:
        await terminal.sign_on()
        assert points_tag(await terminal.purchase(pan, 30_000)) == "+1200"   # 1800 -> 1200
        assert points_tag(await terminal.purchase(pan, 10_000)) == "+0"


async def test_a_category_rate_and_what_the_cli_refuses(jifen, database_url, tmp_path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    await seed(database_url)
    connection = await asyncpg.connect(database_url)
    try:   # a till of the bookshop (its own rate: 2 points per yuan)
        await connection.execute(
            "INSERT INTO terminals (terminal_code, merchant_id, requires_mac) SELECT 'BOOK0001',"
            " id, false FROM merchants WHERE merchant_code = $1", OTHER_MERCHANT)
    finally:
        await connection.close()
    async with running_system(database_url, seeded=False) as system:
        await cli(jifen, "merchant", "update", "--code", OTHER_MERCHANT, "--category", "books")
        await cli(jifen, "rules", "set", "--alliance", "TEST", "--effective", _today(),
                  "--file", str(rules))
        async with system.terminal("BOOK0001", OTHER_MERCHANT) as terminal:
            await terminal.sign_on()
            # books: 1 point per 10 yuan; 123.45 yuan: 12, x2 (ALLWEEK) = 24; not BIG's
            # merchant.
            await _purchase_until(terminal, CARDS[2], 12_345, "+24")
            assert points_tag(await terminal.purchase(CARDS[3], 99_999)) == "+198"
        shown = await cli(jifen, "rules", "show", "--alliance", "TEST")
        assert '"ALLWEEK"' in shown and f"in force from {_today()}" in shown
    assert "in force already: give a later date" in await refused(
        jifen, "rules", "set", "--alliance", "TEST", "--effective", _today(), "--file",
        str(rules))
    assert "or later, not 2020-01-01" in await refused(
        jifen, "rules", "set", "--alliance", "TEST", "--effective", "2020-01-01", "--file",
        str(rules))
    rules.write_text(RULES.replace('merchants = ["MERCHANT0000001"]', 'merchants = ["NOPE"]'))
    assert "no merchant NOPE in alliance TEST" in await refused(
        jifen, "rules", "set", "--alliance", "TEST", "--effective", "2099-01-01", "--file",
        str(rules))
    rules.write_text("[rates]\ndefault = { points = 1, per_yuan = 3 }\n")
    assert "per_yuan is 1, 10 or 100" in await refused(
        jifen, "rules", "check", "--file", str(rules))


async def _purchase_until(terminal, pan: str, amount: int, expected: str) -> dict:
    """Rules and new cards reach the host through a notification, a moment after the command:
    purchases until one earns `expected` (a new card is 14 until then)."""
    with anyio.fail_after(10):
        while True:
            answer = await terminal.purchase(pan, amount)
            if answer["39"] == "00" and points_tag(answer) == expected:
                return answer
            await anyio.sleep(0.05)


BIRTHDAY_RULES = """
[[promotions]]
kind = "birthday"                         # x3 on the member's birthday
code = "HAPPY"
percent = 300
"""


async def test_a_member_earns_triple_on_their_birthday(jifen, database_url, tmp_path) -> None:
    rules = tmp_path / "birthday.toml"
    rules.write_text(BIRTHDAY_RULES)
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    born = today.replace(year=1990) if (today.month, today.day) != (2, 29) \
        else today.replace(year=1992)
    await seed(database_url)
    async with running_system(database_url, seeded=False) as system, \
            system.terminal() as terminal:
        await terminal.sign_on()
        member_id, (pan,) = await member_with_cards(jifen, tmp_path, "王小明", "13812345678",
                                                    "--birthday", born.isoformat())
        await cli(jifen, "rules", "set", "--alliance", "TEST", "--effective", _today(),
                  "--file", str(rules))
        await _purchase_until(terminal, pan, 10_000, "+300")              # 100 x 3
        assert points_tag(await terminal.purchase(CARDS[4], 10_000)) == "+100"   # no member
        # Another birthday: the host reads the card again, and the day is an ordinary one.
        await cli(jifen, "member", "update", "--id", member_id, "--birthday",
                  (born.replace(day=1) if born.day != 1 else born.replace(day=2)).isoformat())
        await _purchase_until(terminal, pan, 10_000, "+100")



async def test_a_new_member_gets_the_join_bonus_once(jifen, database_url, tmp_path) -> None:
    rules = tmp_path / "bonus.toml"
    rules.write_text("[bonuses]\njoin = 500\n")
    await seed(database_url)
    async with running_system(database_url, seeded=False) as system, \
            system.terminal() as terminal:
        await terminal.sign_on()
        await cli(jifen, "rules", "set", "--alliance", "TEST", "--effective", _today(),
                  "--file", str(rules))
        member_id, pans = await member_with_cards(jifen, tmp_path, "李雷", "13912345678",
                                                  cards=2)
        with anyio.fail_after(10):
            while balances(await until(terminal, pans[0], "00"))[POINTS] != 500:
                await anyio.sleep(0.05)
        assert balances(await until(terminal, pans[1], "00"))[POINTS] == 0   # once a member
        commands = await cli(jifen, "card", "commands", "--json")
        assert [(c["kind"], c["state"]) for c in json_document(commands, "[", "]")] == [
            ("join_bonus", "done")]



async def test_a_referrer_gets_the_bonus_at_the_first_purchase(
    jifen, database_url, tmp_path,
) -> None:
    rules = tmp_path / "referral.toml"
    # 2 points per yuan at the tea house: the purchases show when the rules have arrived.
    rules.write_text("[rates.merchants]\nMERCHANT0000001 = { points = 2 }\n"
                     "[bonuses]\nreferral = 800\n")
    await seed(database_url)
    async with running_system(database_url, seeded=False) as system, \
            system.terminal() as terminal:
        await terminal.sign_on()
        await cli(jifen, "rules", "set", "--alliance", "TEST", "--effective", _today(),
                  "--file", str(rules))
        await _purchase_until(terminal, CARDS[5], 10_000, "+200")
        referrer_id, (referrer,) = await member_with_cards(jifen, tmp_path, "会员",
                                                           "13812340001")
        _, (referred,) = await member_with_cards(jifen, tmp_path, "会员", "13812340002",
                                                 "--referred-by", referrer_id)
        # The referred member's first purchase (14 until the host has the new card): 200
        # points for them, 800 for the referrer.
        answer = await _purchase_until(terminal, referred, 10_000, "+200")
        assert answer["39"] == "00"
        assert balances(await until(terminal, referrer, "00"))[POINTS] == 800
        await terminal.purchase(referred, 10_000)                           # once only
        assert balances(await until(terminal, referrer, "00"))[POINTS] == 800
