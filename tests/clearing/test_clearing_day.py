"""A known-answer day, end to end: three merchants' terminals over TCP through front, switch
and host; then close-day, run, verify and status through the `jifen` command.

Alliance TEST: 100 points buy 1 yuan of stored value. Merchants (docs/clearing.md):
    A  MERCHANT0000001  earns 1 point/yuan   alliance rule: issue 1 fen/point,
                                             redemption 0.8 fen/point, commission 100 bp
    B  MERCHANT0000002  earns 2 points/yuan  own rule: issue 1.2, redemption 0.755,
                                             commission 50 bp + 0.5 fen per transaction
    C  MERCHANT0000003  earns 1 point/yuan   alliance rule
The day (card: what happens -> the postings that matter to clearing):
     1 card0 buys 123.45 yuan at A              A issued +123
     2 card1 buys 200.00 yuan at B              B issued +400
     3 card0 redeems 100 points at B            B redeemed +100
     4 card1 redeems 150 points at C            C redeemed +150
     5 card2 loads 100.00 yuan at A             A loaded 10000 fen (cash A holds)
     6 card2 pays 60.00 from stored value at C  C spent +6000 fen, C issued +60
     7 card1 exchanges 200 points at A          HQ: 200 points -> 200 fen stored value
     8 card1 pays 1.50 from stored value at B   B spent +150 fen, B issued +3
     9 card1 returns 50.00 of purchase 2 at B   B issued -floor(400 x 5000 / 20000) = -100
    10 card3 buys 10.00 at A, then 0400         A issued +10 -10
    11 card4 loads 30.00 at C, then 0400        C loaded 3000 - 3000
    12 card5 0220 advice 8.88 at C              C issued +8
Positions (fen, + HQ pays the merchant, - the merchant pays HQ; rounding half up, once):
    A  issued 123 points x 1        = -123     (3 postings: 1, 10, its reversal)
       loaded                       = -10000
       commission (0 + 0) x 1 %     = 0        (transactions at A: 1, 5, 7, 10 = 4, 0400 = -1)
       net                          = -10123
    B  issued 400 + 3 - 100 = 303 x 1.2 = 363.6 -> -364
       redeemed 100 x 0.755 = 75.5      -> +76  (a tie: half up)
       spent                            = +150
       commission (75.5 + 150) x 0.5 % + 0.5 x 4 transactions (2, 3, 8, 9)
                  = 1.1275 + 2 = 3.1275 -> -3
       net                              = -364 + 76 + 150 - 3 = -141
    C  issued 60 + 8 = 68 x 1           = -68
       redeemed 150 x 0.8 = 120         = +120
       loaded 3000 - 3000               = 0      (2 postings)
       spent                            = +6000
       commission (120 + 6000) x 1 % = 61.2 -> -61  (transactions 4, 6, 11, 0400, 12 = 3)
       net                              = -68 + 120 + 6000 - 61 = 5991
    HQ net = -(-10123 - 141 + 5991) = +4273
       check: loads 10000 - spent 6150 + issued 123 + 364 + 68 - redeemed 76 + 120
              + commission 3 + 61 = 4273
    HQ line: points_exchanged 200 points, -200 fen (HQ funded the stored value; not a net)
Instructions: A pays HQ 101.23, B pays HQ 1.41, HQ pays C 59.91.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta

import anyio
import asyncpg
import pytest

from back_office.provisioning.settlement_rules import set_rule
from devices import messages
from tests.clearing.clearing_kit import (
    ALLIANCE,
    MERCHANT_A,
    MERCHANT_B,
    MERCHANT_C,
    TERMINAL_B,
    TERMINAL_C,
    clock_in,
    fresh_date,
    seal,
    seed_extra,
)
from tests.e2e.system import CARDS, SECOND_TERMINAL, RunningSystem, running_system, seed

pytestmark = pytest.mark.anyio

EXPECTED_POSITIONS = {
    (MERCHANT_A, "points_issued"): (123, -123, 3),
    (MERCHANT_A, "stored_value_loaded"): (0, -10_000, 1),
    (MERCHANT_A, "commission"): (0, 0, 3),
    (MERCHANT_B, "points_issued"): (303, -364, 3),
    (MERCHANT_B, "points_redeemed"): (100, 76, 1),
    (MERCHANT_B, "stored_value_spent"): (0, 150, 1),
    (MERCHANT_B, "commission"): (0, -3, 4),
    (MERCHANT_C, "points_issued"): (68, -68, 2),
    (MERCHANT_C, "points_redeemed"): (150, 120, 1),
    (MERCHANT_C, "stored_value_loaded"): (0, 0, 2),
    (MERCHANT_C, "stored_value_spent"): (0, 6_000, 1),
    (MERCHANT_C, "commission"): (0, -61, 3),
    ("HQ", "points_exchanged"): (200, -200, 1),
}
EXPECTED_NETS = {MERCHANT_A: -10_123, MERCHANT_B: -141, MERCHANT_C: 5_991, "HQ": 4_273}
EXPECTED_INSTRUCTIONS = [
    {"payer": MERCHANT_A, "payee": "HQ", "amount_fen": 10_123},
    {"payer": MERCHANT_B, "payee": "HQ", "amount_fen": 141},
    {"payer": "HQ", "payee": MERCHANT_C, "amount_fen": 5_991},
]


async def set_rules(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await set_rule(connection, ALLIANCE, None, date(2000, 1, 1), "1", "0.8", 100)
        await set_rule(connection, ALLIANCE, MERCHANT_B, date(2000, 1, 1), "1.2", "0.755", 50,
                       "0.5")
    finally:
        await connection.close()


async def trade_the_day(system: RunningSystem) -> dict[str, dict[str, str]]:
    """Steps 1-12 of the module's docstring; returns the requests a later test reverses."""
    sent: dict[str, dict[str, str]] = {}
    async with system.terminal() as a, \
            system.terminal(TERMINAL_B, MERCHANT_B) as b, \
            system.terminal(TERMINAL_C, MERCHANT_C) as c:
        for terminal in (a, b, c):
            assert (await terminal.sign_on())["39"] == "00"
        purchase_1 = await a.exchange(messages.purchase(CARDS[0], 12_345, 1))
        sent["purchase_1"] = purchase_1.request
        purchase_2 = await b.purchase(CARDS[1], 20_000)
        answers = [purchase_1.answer, purchase_2,
                   await b.redeem(CARDS[0], 100), await c.redeem(CARDS[1], 150),
                   await a.load_stored_value(CARDS[2], 10_000),
                   await c.purchase_stored_value(CARDS[2], 6_000),
                   await a.exchange_points(CARDS[1], 200),
                   await b.purchase_stored_value(CARDS[1], 150),
                   await b.purchase_return(CARDS[1], 5_000, purchase_2["37"])]
        bought = await a.exchange(messages.purchase(CARDS[3], 1_000, 1))
        answers += [bought.answer, await a.request(messages.reversal(bought.request))]
        loaded = await c.exchange(messages.stored_value_load(CARDS[4], 3_000, 1))
        answers += [loaded.answer, await c.request(messages.reversal(loaded.request))]
        answers.append(await c.request(messages.offline_purchase_advice(CARDS[5], 888, 1)))
        assert [answer["39"] for answer in answers] == ["00"] * len(answers)
    return sent


async def cli(jifen, *argv: str):
    """The `jifen` command runs its own event loop: in a thread of its own here."""
    return await anyio.to_thread.run_sync(lambda: jifen(*argv))


def positions_by_key(result: dict) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {(p["merchant"], p["category"]): (p["points"], p["amount_fen"], p["count"])
            for p in result["positions"]}


@asynccontextmanager
async def traded_day(database_url: str) -> AsyncIterator[tuple[RunningSystem, date]]:
    """The seeded system with the module's rules, running, its day traded (steps 1-12); the
    system and the day, until the block ends (the services stop)."""
    await seed(database_url)
    await seed_extra(database_url)
    await set_rules(database_url)
    async with running_system(database_url, seeded=False) as system:
        async with system.terminal(SECOND_TERMINAL) as probe:
            await probe.sign_on()
            day = await fresh_date(system, probe)
        await trade_the_day(system)
        yield system, day


async def test_known_answer_day(database_url, jifen):
    async with traded_day(database_url) as (_, day):
        run = await cli(jifen, "clearing", "run", "--alliance", ALLIANCE, "--date", str(day))
        assert (run.exit_code, run.err) == (1, f"jifen: error: {day} of alliance TEST is not "
                                           f"sealed; seal it first with `jifen clearing "
                                           f"close-day --alliance TEST --date {day}`\n")
        await seal(database_url, day, clock_in(5))
    # The services are stopped: their log lines no longer mix with the command's output.
    run = await cli(jifen, "clearing", "run", "--alliance", ALLIANCE, "--date", str(day),
                    "--json")
    assert run.exit_code == 0, run.err
    assert run.err == ""                       # no progress bar when stderr is no terminal
    result = json.loads(run.out)
    assert positions_by_key(result) == EXPECTED_POSITIONS
    assert {net["party"]: net["net_fen"] for net in result["nets"]} == EXPECTED_NETS
    assert result["instructions"] == EXPECTED_INSTRUCTIONS

    again = await cli(jifen, "clearing", "run", "--alliance", ALLIANCE, "--date", str(day))
    assert again.exit_code == 1
    assert f"already cleared by run {result['run_id']}" in again.err
    assert "jifen clearing adjust" in again.err
    verify = await cli(jifen, "clearing", "verify", "--alliance", ALLIANCE, "--date", str(day))
    assert (verify.exit_code, verify.out.split(":")[0]) == (0, "identical")
    text = await cli(jifen, "clearing", "run", "--alliance", ALLIANCE,
                     "--date", str(day - timedelta(1)))
    assert text.exit_code == 0 and "settlement instructions:" in text.out

    status = await cli(jifen, "clearing", "status", "--alliance", ALLIANCE, "--json")
    by_date = {row["business_date"]: row for row in json.loads(status.out)}
    assert by_date[str(day)]["state"] == "cleared"
    assert by_date[str(day)]["run_id"] == result["run_id"]
    assert by_date[str(day - timedelta(1))]["state"] == "cleared"
