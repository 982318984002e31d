"""Members' notifications written with their causes (migration 035; docs/operations.md,
"Notifications"): terminals over TCP make purchases, stored-value moves, a redemption and
declined requests (51) against the real front, switch and host (logged in as its own role);
the outbox then holds exactly one event per posting that moves a member's points or stored
value, with the balances after it, and none for a decline. A block by card service, a tier
change and a password lock each write theirs; the expiry warning run writes one per card and
expiry day however often it runs; a member's opt-outs are kept, audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import pytest

from database.roles import Role
from devices import messages
from tests.account_host.host_harness import fetch
from tests.e2e.cli_output import json_document
from tests.e2e.members_kit import member_with_cards
from tests.e2e.system import CARDS, SECOND_TERMINAL, RunningSystem, running_system, seed
from tests.e2e.test_card_passwords import PAN as PASSWORD_PAN
from tests.e2e.test_card_passwords import WRONG, _ready, _redeem
from tests.e2e.test_expiring_points import RULES as EXPIRY_RULES
from tests.e2e.test_expiring_points import _earn_once_rules_apply, _lots, _year_on
from tests.e2e.test_lifecycle import cli, refused
from tests.e2e.test_mac import mac_system, mac_terminal
from tests.e2e.test_tiers import TIER_RULES
from tests.e2e.test_transactions import balances
from tests.provisioning.conftest import jifen

pytestmark = pytest.mark.anyio

__all__ = ["jifen"]  # the fixture, for these tests

_EVENTS_SQL = """
SELECT o.kind, o.card_id, o.transaction_id, o.transaction_kind, o.points, o.points_balance,
       o.stored_value_fen, o.stored_value_balance_fen, o.tier_before, o.tier, o.status,
       o.business_date
FROM notification_outbox o ORDER BY o.id
"""


async def _events(system: RunningSystem) -> list[dict[str, object]]:
    return [dict(row) for row in await system.fetch(_EVENTS_SQL)]


async def _card_id(system: RunningSystem, pan: str) -> int:
    card_id = await system.fetchval("SELECT id FROM cards WHERE pan_hmac = $1",
                                    await system.pan_hmac(pan))
    assert isinstance(card_id, int)
    return card_id


class TestPostings:
    async def test_one_event_per_posting_and_none_for_a_decline(
            self, database_url, role_url) -> None:
        await seed(database_url)
        async with running_system(database_url, seeded=False,
                                  host_url=role_url(Role.HOST)) as system, \
                system.terminal() as terminal, \
                system.terminal(SECOND_TERMINAL) as second:
            await terminal.sign_on()
            await second.sign_on()
            first, other = CARDS[0], CARDS[1]
            assert (await terminal.purchase(first, 10_000))["39"] == "00"        # +100
            spent = await terminal.redeem(first, 40)                              # -40
            assert balances(spent)["0001999"] == 60
            assert (await terminal.redeem(first, 61))["39"] == "51"               # declined
            assert (await terminal.load_stored_value(other, 5_000))["39"] == "00"
            assert (await terminal.purchase_stored_value(other, 9_999))["39"] == "51"
            assert (await terminal.purchase_stored_value(other, 2_000))["39"] == "00"
            # Purchases of one card from two terminals at once: often in one group commit,
            # where each event's balance is the one after its own posting.
            async with anyio.create_task_group() as group:
                for client in (terminal, second) * 3:
                    group.start_soon(client.purchase, first, 1_000)               # +10 each
            events = await _events(system)
            transactions = await system.fetch(
                "SELECT id, kind, card_id, points, stored_value_fen FROM transactions"
                " WHERE card_id IS NOT NULL ORDER BY id")
            first_id, other_id = await _card_id(system, first), await _card_id(system, other)

        # One event per transaction, in its order, with the transaction's moves.
        assert [(event["transaction_id"], event["card_id"], event["points"],
                 event["stored_value_fen"]) for event in events] == \
            [(row["id"], row["card_id"], row["points"], row["stored_value_fen"])
             for row in transactions]
        assert len(events) == 10     # 2 declines wrote none
        kinds = [(event["kind"], event["transaction_kind"]) for event in events]
        assert kinds[:4] == [("points_earned", "purchase"), ("points_spent", "redemption"),
                             ("stored_value_moved", "stored_value_load"),
                             ("stored_value_moved", "stored_value_purchase")]
        assert set(kinds[4:]) == {("points_earned", "purchase")}
        # The balances after each posting: a running sum, per card, in the journal's order.
        running = {first_id: 0, other_id: 0}
        for event in events:
            card_id = event["card_id"]
            assert isinstance(card_id, int)
            running[card_id] += event["points"] or 0
            if event["points"]:
                assert event["points_balance"] == running[card_id], event
        assert running == {first_id: 120, other_id: 20}
        stored = [event for event in events if event["kind"] == "stored_value_moved"]
        assert [(event["stored_value_balance_fen"], event["points_balance"])
                for event in stored] == [(5_000, None), (3_000, 20)]
        assert all(event["business_date"] is not None for event in events)


class TestStateChanges:
    async def test_a_block_by_card_service_writes_its_event(self, jifen, database_url) -> None:
        async with running_system(database_url) as system:
            await cli(jifen, "card", "block", "--pan", CARDS[2])
            card_id = await _card_id(system, CARDS[2])
            events = await _events(system)
        assert [(event["kind"], event["card_id"], event["status"]) for event in events] == \
            [("card_blocked", card_id, "blocked")]

    async def test_a_password_lock_writes_its_event_once(
            self, database_url, monkeypatch) -> None:
        async with mac_system(database_url, monkeypatch) as system, \
                mac_terminal(system) as terminal:
            await _ready(system, terminal)
            assert [await _redeem(terminal, WRONG) for _ in range(3)] == ["55", "55", "75"]
            assert await _redeem(terminal, WRONG) == "75"      # locked already: no event
            card_id = await _card_id(system, PASSWORD_PAN)
            locks = [event for event in await _events(system)
                     if event["kind"] == "password_locked"]
        assert [(event["card_id"], event["transaction_id"]) for event in locks] == \
            [(card_id, None)]

    async def test_a_tier_change_writes_its_event(self, jifen, database_url, tmp_path) -> None:
        rules = tmp_path / "tiers.toml"
        rules.write_text(TIER_RULES)
        today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
        await seed(database_url)
        async with running_system(database_url, seeded=False) as system, \
                system.terminal() as terminal:
            await terminal.sign_on()
            _, pans = await member_with_cards(jifen, tmp_path, "张伟", "13712345678", cards=1)
            (pan,) = pans
            await cli(jifen, "rules", "set", "--alliance", "TEST", "--effective", today,
                      "--file", str(rules))
            with anyio.fail_after(10):   # rules and the new card reach the host in a moment
                while (await terminal.inquiry(pan))["39"] != "00":
                    await anyio.sleep(0.05)
            sent = await terminal.exchange(messages.purchase(pan, 80_000, 1))   # SILVER: new
            assert sent.answer["39"] == "00"
            assert (await terminal.purchase(pan, 30_000))["39"] == "00"       # GOLD
            assert (await terminal.purchase(pan, 1_000))["39"] == "00"        # still GOLD
            card_id = await _card_id(system, pan)
            changes = [event for event in await _events(system)
                       if event["kind"] == "tier_changed"]
        assert [(event["card_id"], event["tier_before"], event["tier"]) for event in changes] \
            == [(card_id, "SILVER", "GOLD")]


class TestExpiryWarnings:
    async def test_one_warning_per_card_and_day(self, jifen, database_url, tmp_path) -> None:
        pan = CARDS[0]
        today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
        rules = tmp_path / "rules.toml"
        rules.write_text(EXPIRY_RULES)   # 12 months, warned 30 days ahead
        await seed(database_url)
        async with running_system(database_url, seeded=False) as system, \
                system.terminal() as terminal:
            await terminal.sign_on()
            await cli(jifen, "rules", "set", "--alliance", "TEST", "--effective",
                      today.isoformat(), "--file", str(rules))
            earned = await _earn_once_rules_apply(system, terminal, pan)
            card_id = await _card_id(system, pan)
        last_day = _year_on(today)
        assert await _lots(database_url, earned["37"]) == {last_day: 100}

        async def warn(day: object) -> dict[str, object]:
            out = await cli(jifen, "notify", "expiry-warnings", "--alliance", "TEST",
                            "--date", str(day), "--json")
            (run,) = json.loads(out)
            return run

        assert (await warn(last_day - timedelta(days=31)))["cards"] == 0   # not yet
        first = await warn(last_day - timedelta(days=30))
        again = await warn(last_day - timedelta(days=29))
        # The card, and the one that probed for the rules (its 1 point earned the same day).
        assert (first["cards"], first["written"], first["warning_days"]) == (2, 2, 30)
        assert (again["cards"], again["written"]) == (2, 0)     # warned already
        warnings = await fetch(
            database_url, "SELECT card_id, points, expiry_day, transaction_id"
                          " FROM notification_outbox WHERE kind = 'points_expiring'")
        assert [tuple(row) for row in warnings if row["card_id"] == card_id] == \
            [(card_id, 100, last_day, None)]
        assert len(warnings) == 2


class TestPreferences:
    async def test_opt_out_and_in_audited(self, jifen, database_url, tmp_path) -> None:
        await seed(database_url)
        member_id, _ = await member_with_cards(jifen, tmp_path, "李娜", "13912345678")
        shown = json_document(await cli(jifen, "member", "notifications", "--member",
                                        member_id, "--json"))
        assert shown["opted_out"] == [] and "points_earned" in shown["sent"]
        out = json_document(await cli(
            jifen, "member", "notifications", "--member", member_id, "--opt-out",
            "points_spent", "points_earned", "--json"))
        assert out["opted_out"] == ["points_earned", "points_spent"]
        back = json_document(await cli(jifen, "member", "notifications", "--member",
                                       member_id, "--opt-in", "points_earned", "--json"))
        assert back["opted_out"] == ["points_spent"]
        assert "no-such-kind" in await refused(
            jifen, "member", "notifications", "--member", member_id, "--opt-out",
            "no-such-kind")
        audit = await fetch(database_url, "SELECT object_key, after FROM audit_log"
                                           " WHERE action = 'member.notifications' ORDER BY id")
        assert [(row["object_key"], json.loads(row["after"])["opted_out"]) for row in audit] \
            == [(member_id, ["points_earned", "points_spent"]), (member_id, ["points_spent"])]
