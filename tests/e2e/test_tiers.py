"""Tiers over TCP (docs/rules.md, "Tiers"; host interface 1.2, tag TR): one system, one member
with two cards and a card without a member. An alliance without tiers sends no TR; with them,
the purchase that crosses a threshold earns at its old tier's rate and its answer already shows
the new tier; the member's second card shares the tier (0110) and earns at its rate; another
kind's 0210 carries TR too; a return and a reversal take off the rolling total and leave
the tier; a host started again reads the standings back; `jifen member show`
shows the tier."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import anyio
import pytest

from devices import messages
from proto.fields import parse_tlv
from tests.e2e.cli_output import json_document
from tests.e2e.members_kit import member_with_cards
from tests.e2e.system import CARDS, SECOND_TERMINAL, running_system, seed
from tests.e2e.test_lifecycle import cli
from tests.e2e.test_transactions import points_tag
from tests.provisioning.conftest import jifen

pytestmark = pytest.mark.anyio

__all__ = ["jifen"]  # the fixture, for these tests

# 1 point per yuan; GOLD from 1,000 yuan spent in 12 months earns x1.5.
TIER_RULES = """
[rates]
default = { points = 1 }

[tiers]
measure = "spend"
levels = [
  { code = "SILVER",  threshold = 0 },
  { code = "GOLD",    threshold = 100000,  percent = 150 },
  { code = "PLATINUM", threshold = 500000, percent = 200 },
  { code = "DIAMOND", threshold = 2000000, percent = 300 },
]
"""


def _tier(answer: dict[str, str]) -> str | None:
    assert answer["39"] == "00", answer
    return parse_tlv(answer.get("48", "")).get("TR")


async def test_an_upgrade_across_a_threshold_and_a_members_cards(
        jifen, database_url, tmp_path) -> None:
    rules = tmp_path / "tiers.toml"
    rules.write_text(TIER_RULES)
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    lone = CARDS[5]
    await seed(database_url)
    async with running_system(database_url, seeded=False) as system, \
            system.terminal() as terminal:
        await terminal.sign_on()
        assert _tier(await terminal.inquiry(lone)) is None       # no tiers: no TR
        member_id, pans = await member_with_cards(jifen, tmp_path, "张伟", "13712345678",
                                                  cards=2)
        first, second = pans
        await cli(jifen, "rules", "set", "--alliance", "TEST", "--effective", today, "--file",
                  str(rules))
        with anyio.fail_after(10):   # rules and new cards reach the host in a moment
            while (answer := await terminal.inquiry(first))["39"] != "00" \
                    or _tier(answer) != "SILVER":
                await anyio.sleep(0.05)
        silver_sent = await terminal.exchange(messages.purchase(first, 80_000, 1))
        silver = silver_sent.answer
        assert (points_tag(silver), _tier(silver)) == ("+800", "SILVER")
        # 800 + 300 yuan reach GOLD: this purchase earns at SILVER's rate, and shows GOLD.
        crossing = await terminal.purchase(first, 30_000)
        assert (points_tag(crossing), _tier(crossing)) == ("+300", "GOLD")
        assert _tier(await terminal.inquiry(second)) == "GOLD"   # the member's other card
        gold = await terminal.exchange(messages.purchase(second, 10_000, 1))
        assert (points_tag(gold.answer), _tier(gold.answer)) == ("+150", "GOLD")   # x1.5
        # A return and a reversal take off the rolling total (1,200 - 100 - 100 yuan); the
        # tier stays until the review.
        returned = await terminal.purchase_return(first, 10_000, crossing["37"])
        assert (points_tag(returned), _tier(returned)) == ("-100", "GOLD")
        assert (await terminal.request(messages.reversal(gold.request)))["39"] == "00"
        redeemed = await terminal.redeem(first, 100)
        assert (points_tag(redeemed), _tier(redeemed)) == ("-100", "GOLD")
        lone_purchase = await terminal.purchase(lone, 10_000)
        assert (points_tag(lone_purchase), _tier(lone_purchase)) == ("+100", "SILVER")
    async with running_system(database_url, seeded=False) as system, \
            system.terminal(SECOND_TERMINAL) as terminal:
        await terminal.sign_on()
        assert _tier(await terminal.inquiry(first)) == "GOLD"    # read back at start
        assert _tier(await terminal.inquiry(lone)) == "SILVER"
        async with system.terminal() as till:   # a reversal of a purchase of before the start
            assert (await till.request(messages.reversal(silver_sent.request)))["39"] == "00"
    shown = json_document(await cli(jifen, "member", "show", "--id", member_id, "--json"))
    assert shown["tier"] == "GOLD" and shown["tier_rolling_total"] == 100_000 - 80_000
