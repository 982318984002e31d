"""The nightly tier review through the host (`jifen rules review-tiers`): a holder whose tier's
year ended is decided again from its rolling 12 months, lowered when they no longer reach it
and kept for another year when they do; a second run finds nothing due."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from account_host.tiers.standing import year_later
from back_office.rules import review_tiers, set_rules
from proto.earn_rules import EarnRules
from proto.fields import parse_tlv
from proto.tiers import Tier, Tiers, standing_tier
from tests.account_host.host_harness import CARDS, Terminal, fetch, running_host

pytestmark = pytest.mark.anyio

TIERS = Tiers((Tier("SILVER", 0), Tier("GOLD", 10_000, 150)))


async def test_a_review_lowers_and_keeps(seeded_url: str) -> None:
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    connection = await asyncpg.connect(seeded_url)
    try:
        await set_rules(connection, "TEST", today, EarnRules(tiers=TIERS))
    finally:
        await connection.close()
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        for pan in CARDS[:3]:   # 100 yuan each: GOLD; the third card stays SILVER
            answer = await host.ask(terminal.purchase(pan, 10_000 if pan != CARDS[2] else 100))
            assert answer.response_code == "00"
    # Time passes: the first two tiers' years ended yesterday; the first card spent nothing
    # in the 12 months since (its counts cleared), the second did.
    await _end_years(seeded_url, today - timedelta(days=1), cleared_card_id=1)
    async with running_host(seeded_url) as host:
        connection = await asyncpg.connect(seeded_url)
        try:
            run = await review_tiers(connection, "TEST", None, 10.0)
            again = await review_tiers(connection, "TEST", None, 10.0)
        finally:
            await connection.close()
        tiers = [parse_tlv((await host.ask(terminal.inquiry(pan))).additional_data or "")
                 .get("TR") for pan in CARDS[:3]]
    assert run.holders == 2 and [c.state for c in run.commands] == ["done"]
    assert run.commands[0].result == f"2 tiers reviewed, 1 lowered (years ended before {today})"
    assert again.holders == 0 and again.commands == []
    assert tiers == ["SILVER", "GOLD", "SILVER"]
    rows = await fetch(seeded_url, "SELECT card_id, tier, tier_until, standing"
                                   " FROM tier_standings ORDER BY card_id")
    assert [(row["card_id"], row["tier"]) for row in rows] == [
        (1, "SILVER"), (2, "GOLD"), (3, "SILVER")]
    kept_until = date.fromordinal(standing_tier(rows[1]["standing"])[1])
    assert rows[1]["tier_until"] == kept_until == year_later(today)


async def _end_years(url: str, day: date, cleared_card_id: int) -> None:
    """Every upgraded standing's year ends on `day` (row and packed value), and one card's
    months are cleared."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "UPDATE tier_standings SET tier_until = $1,"
            " standing = overlay(standing PLACING int4send($2::integer) FROM 9 FOR 4)"
            " WHERE tier_until IS NOT NULL", day, day.toordinal())
        await connection.execute(
            "UPDATE tier_standings SET standing = overlay(standing PLACING"
            " decode(repeat('00', 48), 'hex') FROM 15 FOR 48) WHERE card_id = $1",
            cleared_card_id)
    finally:
        await connection.close()
