"""Gifts with stock and points paying part of an order (issue 18), over TCP with the terminal
simulator: the host keeps a gift's stock, takes one with each redemption and gives it back with
its reversal; HQ restocks and withdraws through `jifen gift` while the system runs; a 900000
with tag OA is capped by the alliance's share of the order. Known answers, and SQL on what the
journal holds; `jifen audit` runs after each test (conftest.py)."""

from __future__ import annotations

import json

import anyio
import pytest

from devices import messages
from devices.terminal_client import TerminalClient
from proto.fields import encode_tlv
from tests.e2e.system import (
    CARDS,
    MERCHANT,
    RunningSystem,
    retry_until_host_is_back,
    running_system,
    seed,
)
from tests.e2e.test_lifecycle import cli
from tests.e2e.test_transactions import POINTS, balances, member, points_tag
from tests.provisioning.conftest import jifen

pytestmark = pytest.mark.anyio

__all__ = ["jifen"]  # the fixture, for these tests

LAMP = "LAMP"            # added by these tests with one in stock
LAMP_POINTS = 40
ALLIANCE = "TEST"        # 100 points buy 1 yuan: a point is worth 1 fen
WAIT_S = 10.0


def _json_of(out: str) -> dict:
    """The command's JSON document among the running services' log lines (same process)."""
    lines = out.splitlines()
    start, end = lines.index("{"), len(lines) - lines[::-1].index("}")
    return json.loads("\n".join(lines[start:end]))


async def _stock(system: RunningSystem, code: str) -> int | None:
    return await system.fetchval("SELECT stock FROM gift_catalogue WHERE gift_code = $1", code)


async def _earn(terminal: TerminalClient, pan: str, points: int) -> None:
    """`points` more on the card: a purchase at MERCHANT earns 1 point a yuan."""
    assert (await terminal.purchase(pan, points * 100))["39"] == "00"


class TestGiftStock:
    async def test_out_of_stock_reversed_restocked_and_withdrawn(self, jifen, database_url):
        await seed(database_url)
        added = await cli(jifen, "gift", "add", "--alliance", ALLIANCE, "--code", LAMP,
                          "--name", "Desk lamp", "--points", str(LAMP_POINTS), "--stock", "1",
                          "--json")
        assert (_json_of(added)["stock"], _json_of(added)["active"]) == (1, True)
        pan = CARDS[6]
        async with running_system(database_url, seeded=False) as system, \
                system.terminal() as terminal:
            await terminal.sign_on()
            await _earn(terminal, pan, 200)
            last = await terminal.exchange(messages.redemption(pan, LAMP_POINTS, 1, LAMP))
            assert (last.answer["39"], points_tag(last.answer)) == ("00", f"-{LAMP_POINTS}")
            assert await _stock(system, LAMP) == 0          # written with the postings
            # The next one: out of stock, 05; but 13 and 51 come first (host interface §4).
            assert (await terminal.redeem(pan, LAMP_POINTS, gift_code=LAMP))["39"] == "05"
            assert (await terminal.redeem(pan, LAMP_POINTS + 1, gift_code=LAMP))["39"] == "13"
            assert (await terminal.redeem(CARDS[7], LAMP_POINTS, gift_code=LAMP))["39"] == "51"
            # Its reversal puts the lamp back on the shelf, and it can be taken again.
            assert (await terminal.reverse(last.request))["39"] == "00"
            assert await _stock(system, LAMP) == 1
            assert (await terminal.redeem(pan, LAMP_POINTS, gift_code=LAMP))["39"] == "00"
            assert await _stock(system, LAMP) == 0
            # HQ restocks while the host runs: a command the host applies and answers.
            restocked = _json_of(await cli(
                jifen, "gift", "restock", "--alliance", ALLIANCE, "--code", LAMP,
                "--quantity", "2", "--reason", "delivery 2026-12-07", "--json"))
            assert (restocked["state"], restocked["result_code"], restocked["result"]) == (
                "done", "00", "+2: 2 in stock")
            assert restocked["transaction_id"] is None      # a gift command posts nothing
            assert await _stock(system, LAMP) == 2
            assert (await terminal.redeem(pan, LAMP_POINTS, gift_code=LAMP))["39"] == "00"
            withdrawn = _json_of(await cli(
                jifen, "gift", "withdraw", "--alliance", ALLIANCE, "--code", LAMP,
                "--reason", "recalled by the maker", "--json"))
            assert (withdrawn["state"], withdrawn["result"]) == (
                "done", "withdrawn with 1 in stock")
            assert (await terminal.redeem(pan, LAMP_POINTS, gift_code=LAMP))["39"] == "05"
            refused = await anyio.to_thread.run_sync(lambda: jifen(
                "gift", "restock", "--alliance", ALLIANCE, "--code", LAMP, "--quantity", "1",
                "--reason", "too late"))
            assert refused.exit_code == 1 and "(05)" in refused.err
            # The journal: three redemptions of the lamp, one reversed; 200 - 2 x 40 points.
            taken = await system.fetch(
                "SELECT t.kind, t.amount, t.points,"
                "       EXISTS (SELECT 1 FROM transactions v WHERE v.kind = 'reversal'"
                "               AND v.original_transaction_id = t.id) AS reversed"
                " FROM gift_redemptions r JOIN transactions t ON t.id = r.transaction_id"
                " WHERE r.gift_code = $1 ORDER BY t.id", LAMP)
            assert [tuple(row) for row in taken] == [
                ("redemption", 40, -40, True), ("redemption", 40, -40, False),
                ("redemption", 40, -40, False)]
            assert await member(system, pan) == (200 - 2 * LAMP_POINTS, 0)
        rows = _json_list(await cli(jifen, "gift", "list", "--alliance", ALLIANCE, "--json"))
        lamp = next(row for row in rows if row["code"] == LAMP)
        assert (lamp["stock"], lamp["active"], lamp["host"]) == (1, False, "main")


def _json_list(out: str) -> list[dict]:
    lines = out.splitlines()
    start, end = lines.index("["), len(lines) - lines[::-1].index("]")
    return json.loads("\n".join(lines[start:end]))


class TestOrderShare:
    async def test_points_pay_at_most_the_share_of_the_order(self, jifen, database_url):
        """30 % of an order of 123.45 yuan is 37.035 yuan: 3703 points (37.03 yuan) pass,
        3704 (37.04 yuan) are above it by half a fen and get 61: no rounding either way."""
        await seed(database_url)
        shared = _json_of(await cli(jifen, "alliance", "set-order-share", "--code", ALLIANCE,
                                    "--share-bp", "3000", "--json"))
        assert shared["order_points_share_bp"] == 3000
        pan, order_fen = CARDS[8], 12_345
        async with running_system(database_url, seeded=False) as system, \
                system.terminal() as terminal:
            await terminal.sign_on()
            await _earn(terminal, pan, 5_000)
            over = await terminal.redeem(pan, 3_704, order_fen=order_fen)
            assert over["39"] == "61"
            at_limit = await terminal.redeem(pan, 3_703, order_fen=order_fen)
            assert (at_limit["39"], points_tag(at_limit)) == ("00", "-3703")
            assert balances(at_limit)[POINTS] == 5_000 - 3_703
            # 61 comes before 51: a card without the points gets 61 over the share.
            assert (await terminal.redeem(CARDS[9], 3_704, order_fen=order_fen))["39"] == "61"
            assert (await terminal.redeem(CARDS[9], 3_703, order_fen=order_fen))["39"] == "51"
            # GC and OA together, or an OA that is not n12: 30 (the front's format check).
            both = messages.redemption(pan, LAMP_POINTS, 1)
            both["48"] = encode_tlv({"GC": "TEA", "OA": f"{order_fen:012d}"})
            assert (await terminal.request(both))["39"] == "30"
            short = messages.redemption(pan, 10, 1)
            short["48"] = encode_tlv({"OA": "12345"})
            assert (await terminal.request(short))["39"] == "30"
            posted = await system.fetch(
                "SELECT t.kind, t.amount, t.points, t.merchant_id = m.id AS at_the_merchant"
                " FROM transactions t JOIN merchants m ON m.merchant_code = $1"
                " WHERE t.kind = 'redemption'", MERCHANT)
            assert [tuple(row) for row in posted] == [("redemption", 3_703, -3_703, True)]
            assert await system.fetchval("SELECT count(*) FROM gift_redemptions") == 0
            assert await member(system, pan) == (5_000 - 3_703, 0)


class TestRestart:
    async def test_stock_and_a_reversal_survive_a_host_restart(self, jifen, database_url):
        """The host reads stock back, and which gift each redemption took (gift_redemptions),
        so that a reversal after a restart still puts the gift back."""
        await seed(database_url)
        await cli(jifen, "gift", "add", "--alliance", ALLIANCE, "--code", LAMP, "--name",
                  "Desk lamp", "--points", str(LAMP_POINTS), "--stock", "1")
        pan = CARDS[6]
        async with running_system(database_url, seeded=False) as system, \
                system.terminal() as terminal:
            await terminal.sign_on()
            await _earn(terminal, pan, 100)
            taken = await terminal.exchange(messages.redemption(pan, LAMP_POINTS, 1, LAMP))
            assert taken.answer["39"] == "00"
            await system.host.stop()
            await system.host.start(system.group)
            await retry_until_host_is_back(terminal, messages.inquiry(pan))
            assert (await terminal.redeem(pan, LAMP_POINTS, gift_code=LAMP))["39"] == "05"
            assert (await terminal.reverse(taken.request))["39"] == "00"
            assert await _stock(system, LAMP) == 1
            assert (await terminal.redeem(pan, LAMP_POINTS, gift_code=LAMP))["39"] == "00"
            assert await _stock(system, LAMP) == 0
            out = await cli(jifen, "gift", "restock", "--alliance", ALLIANCE, "--code", LAMP,
                            "--quantity", "3", "--reason", "delivery")
            assert "(gift_restock) done: +3: 3 in stock\n" in out and "transaction" not in out
