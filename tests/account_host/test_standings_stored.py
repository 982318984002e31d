"""Where a tier standing is written (migration 027): a new holder or a change of tier writes
the holder's tier_standings row; a purchase that only counts writes it with its card's points
balance instead; a member's cards may then hold several copies, and the newest wins when the
host starts again and in what staff read (tier_standings_current)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from back_office.rules import set_rules
from proto.earn_rules import EarnRules
from proto.fields import parse_tlv
from proto.tiers import Tier, Tiers, month_key, standing_tier, standing_total
from tests.account_host.host_harness import CARDS, Terminal, fetch, running_host
from tests.keys_kit import give_cards_a_member

pytestmark = pytest.mark.anyio

# GOLD from 300 yuan spent in 12 months.
TIERS = Tiers((Tier("SILVER", 0), Tier("GOLD", 30_000, 150)))


async def _member_with_cards(url: str, pans: list[str]) -> int:
    connection = await asyncpg.connect(url)
    try:
        member = await give_cards_a_member(connection, pans)
        await set_rules(connection, "TEST", _today().date(), EarnRules(tiers=TIERS))
    finally:
        await connection.close()
    return member


def _today() -> datetime:
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))


def _total(standing: bytes) -> int:
    today = _today()
    return standing_total(standing, month_key(today.year, today.month))


async def test_counts_ride_on_the_balance_and_the_newest_copy_wins(seeded_url: str) -> None:
    first, second = CARDS[0], CARDS[1]
    member = await _member_with_cards(seeded_url, [first, second])
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        for pan, amount in ((first, 10_000), (first, 5_000), (second, 5_000)):
            answer = await host.ask(terminal.purchase(pan, amount))
            assert answer.response_code == "00"
        row = (await fetch(seeded_url, "SELECT tier, standing, seq FROM tier_standings"
                                       " WHERE holder = $1", member))[0]
        copies = await fetch(seeded_url, "SELECT c.id, a.standing, a.standing_seq FROM accounts a"
                                         " JOIN cards c ON c.id = a.card_id ORDER BY c.id")
        # The first purchase made the row; the two after it only counted, on their cards.
        assert (row["tier"], _total(row["standing"])) == ("SILVER", 10_000)
        assert [_total(copy["standing"]) for copy in copies] == [15_000, 20_000]
        assert row["seq"] < copies[0]["standing_seq"] < copies[1]["standing_seq"]
        # 100 yuan more on the first card reach GOLD: a change of tier writes the row.
        answer = await host.ask(terminal.purchase(first, 10_000))
        assert parse_tlv(answer.additional_data or "")["TR"] == "GOLD"
        row = (await fetch(seeded_url, "SELECT tier, standing FROM tier_standings"
                                       " WHERE holder = $1", member))[0]
        assert (row["tier"], _total(row["standing"])) == ("GOLD", 30_000)
        answer = await host.ask(terminal.purchase(second, 1_000))   # counts, on the second
        assert answer.response_code == "00"
    shown = (await fetch(seeded_url, "SELECT tier, standing FROM tier_standings_current"
                                     " WHERE holder = $1", member))[0]
    assert (shown["tier"], _total(shown["standing"])) == ("GOLD", 31_000)
    async with running_host(seeded_url) as host:   # started again: the newest copy
        inquiry = await host.ask(terminal.inquiry(first))
        assert parse_tlv(inquiry.additional_data or "")["TR"] == "GOLD"
        answer = await host.ask(terminal.purchase(first, 2_000))
        assert answer.response_code == "00"
    copy = (await fetch(seeded_url, "SELECT a.standing FROM accounts a JOIN cards c"
                                    " ON c.id = a.card_id WHERE c.id = 1"))[0]["standing"]
    assert standing_tier(copy)[0] == "GOLD" and _total(copy) == 33_000


async def test_a_card_that_joins_a_member_brings_no_old_copy(seeded_url: str) -> None:
    """A card's copy of its own standing, from before it had a member, is not the member's:
    each copy names its holder."""
    lone, members_card = CARDS[2], CARDS[3]
    member = await _member_with_cards(seeded_url, [members_card])
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        for pan, amount in ((members_card, 2_000), (lone, 7_000), (lone, 8_000)):
            answer = await host.ask(terminal.purchase(pan, amount))
            assert answer.response_code == "00"
    copies = await fetch(seeded_url, "SELECT standing_holder FROM accounts"
                                     " WHERE standing IS NOT NULL")
    assert [copy["standing_holder"] for copy in copies] == [-3]   # the lone card's own
    connection = await asyncpg.connect(seeded_url)
    try:
        await connection.execute("UPDATE cards SET member_id = $1 WHERE id = 3", member)
    finally:
        await connection.close()
    async with running_host(seeded_url) as host:
        answer = await host.ask(terminal.purchase(lone, 1_000))   # now counts for the member
        assert answer.response_code == "00"
    shown = (await fetch(seeded_url, "SELECT standing FROM tier_standings_current"
                                     " WHERE holder = $1", member))[0]
    assert _total(shown["standing"]) == 2_000 + 1_000
