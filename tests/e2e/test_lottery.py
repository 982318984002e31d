"""The points lottery over TCP (host interface 1.2, 0200 910000): a reproducible draw (the
outcome the published secret gives), a limited prize running out (NONE), a reversal giving
back stake, prize and stock so that the draw drawn again is the same, the stake counted with
the redemptions, the refusals (12, 13, 51), and `jifen lottery verify` after publication."""

from __future__ import annotations

import json

import anyio
import asyncpg
import pytest

from devices import messages
from proto.fields import parse_tlv
from proto.lottery import NO_PRIZE, draw_value
from tests.account_host.host_harness import fetch
from tests.e2e.system import CARDS, running_system, seed
from tests.e2e.test_lifecycle import cli
from tests.e2e.test_transactions import POINTS, balances
from tests.provisioning.conftest import jifen

pytestmark = pytest.mark.anyio

__all__ = ["jifen"]  # the fixture, for these tests

PRIZES = """
[[prizes]]
code = "JACKPOT"
kind = "points"
ppm = 1000000          # every draw wins it, while one is left
points = 500
stock = 1
"""
PRICE = 100


async def _lottery(terminal, pan: str, stake: int = PRICE):
    return await terminal.exchange(messages.financial("910000", pan, stake,
                                                      terminal.batch_number))


async def test_draws_stock_reversal_and_verify(jifen, database_url, tmp_path) -> None:
    prizes = tmp_path / "prizes.toml"
    prizes.write_text(PRIZES)
    pan = CARDS[0]
    await seed(database_url)
    async with running_system(database_url, seeded=False) as system, \
            system.terminal() as terminal:
        await terminal.sign_on()
        assert (await _lottery(terminal, pan)).answer["39"] == "12"        # no campaign yet
        await cli(jifen, "lottery", "create", "--alliance", "TEST", "--code", "SPRING",
                  "--price", str(PRICE), "--prizes", str(prizes))
        assert (await terminal.purchase(pan, 30_000))["39"] == "00"       # 300 points
        first = await _until_drawn(terminal, pan)
        assert parse_tlv(first.answer["48"]) == {"PT": "+400", "LD": "JACKPOT"}
        assert balances(first.answer)[POINTS] == 700                      # 300 - 100 + 500
        second = await _lottery(terminal, pan)
        assert parse_tlv(second.answer["48"]) == {"PT": "-100", "LD": NO_PRIZE}   # out of stock
        assert (await _lottery(terminal, pan, PRICE + 1)).answer["39"] == "13"
        # The first draw reversed: stake, prize and the prize's stock back; drawn again (the
        # card has one standing draw, the second), and it is the same outcome as the second.
        assert (await terminal.request(messages.reversal(first.request)))["39"] == "00"
        third = await _lottery(terminal, pan)
        assert parse_tlv(third.answer["48"])["LD"] == "JACKPOT"   # the stock came back
        assert (await _lottery(terminal, CARDS[1])).answer["39"] == "51"  # no points
    campaign = await _fetch_one(database_url, "SELECT id, secret FROM lottery_campaigns")
    card = await _fetch_one(database_url, "SELECT card_id FROM lottery_draws LIMIT 1")
    rows = await fetch(database_url, "SELECT draw_number, draw_value, prize_code"
                        " FROM lottery_draws ORDER BY transaction_id")
    assert [(r["draw_number"], r["prize_code"]) for r in rows] == [
        (0, "JACKPOT"), (1, NO_PRIZE), (1, "JACKPOT")]
    assert all(r["draw_value"] == draw_value(bytes(campaign["secret"]), card["card_id"],
                                             r["draw_number"]) for r in rows)
    assert (await _fetch_one(database_url, "SELECT stock FROM lottery_prize_stock"))[0] == 0
    # Ended and published: an auditor re-derives every draw.
    await cli(jifen, "lottery", "end", "--code", "SPRING")
    await cli(jifen, "lottery", "publish", "--code", "SPRING")
    verified = json.loads(await cli(jifen, "lottery", "verify", "--code", "SPRING", "--json"))
    assert len(verified) == 3 and all(check["matches"] for check in verified)


async def _until_drawn(terminal, pan: str):
    """The campaign reaches the host in a moment: 12 until then."""
    with anyio.fail_after(10):
        while True:
            drawn = await _lottery(terminal, pan)
            if drawn.answer["39"] != "12":
                return drawn
            await anyio.sleep(0.05)


async def _fetch_one(database_url: str, query: str) -> asyncpg.Record:
    [row] = await fetch(database_url, query)
    return row
