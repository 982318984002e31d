"""Risk control over TCP (docs/rules.md, "Risk control"; host interface §9, "Velocity"):
velocity limits set with `jifen risk set-limits` answer 65 past the configured count and 61
past the day's amount, a reversal is still approved, and a host started again counts the day
from the journal; a purchase far above the card's baseline is approved, blocks the card (05
from the next request) and queues a review, which a second operator's approval of `jifen
risk release` lifts. `jifen audit` runs after each test (tests/e2e/conftest.py)."""

from __future__ import annotations

import anyio
import pytest

from devices import messages
from proto.pan import mask_pan
from tests.account_host.host_harness import fetch
from tests.e2e.cli_output import json_document
from tests.e2e.system import CARDS, SECOND_TERMINAL, running_system, seed
from tests.e2e.test_lifecycle import cli, refused, until
from tests.operators.conftest import Operator, as_operator, operator_of
from tests.provisioning.conftest import jifen

pytestmark = pytest.mark.anyio

__all__ = ["as_operator", "jifen", "operator_of"]  # the fixtures, for these tests


async def _operator(operator_of, role: str) -> Operator:
    return await anyio.to_thread.run_sync(lambda: operator_of(role))


async def _as(as_operator, operator: Operator, *argv: str):
    run = await anyio.to_thread.run_sync(lambda: as_operator(operator, *argv))
    assert run.exit_code == 0, run.err
    return json_document(run.out)


class TestVelocity:
    async def test_65_past_the_count_61_past_the_amount_and_a_reversal_passes(
        self, jifen, database_url,
    ) -> None:
        counted, amounted = CARDS[0], CARDS[1]
        await seed(database_url)
        # Set before the host starts, so that it counts from its first request.
        out = await cli(jifen, "risk", "set-limits", "--alliance", "TEST",
                        "--limit", "000000:-:3:50000", "--json")
        assert json_document(out)["version"] == 1
        async with running_system(database_url, seeded=False) as system, \
                system.terminal() as terminal:
            await terminal.sign_on()
            approved = [await terminal.exchange(messages.purchase(counted, 100, 1))
                        for _ in range(3)]
            assert [one.answer["39"] for one in approved] == ["00", "00", "00"]
            assert (await terminal.purchase(counted, 100))["39"] == "65"   # the 4th
            # A reversal is never refused by velocity, and gives no count back.
            assert (await terminal.reverse(approved[2].request))["39"] == "00"
            assert (await terminal.purchase(counted, 100))["39"] == "65"
            # An inquiry is not limited; another card counts apart.
            assert (await terminal.inquiry(counted))["39"] == "00"
            assert (await terminal.purchase(amounted, 30_000))["39"] == "00"
            assert (await terminal.purchase(amounted, 30_000))["39"] == "61"   # 60,000 > 50,000
            assert (await terminal.purchase(amounted, 20_000))["39"] == "00"   # 50,000: at it
            assert (await terminal.purchase(amounted, 1))["39"] == "61"
            # Over both the count and the amount: frequency (65) comes first, amount 13
            # before both (§4's order).
            both = CARDS[2]
            for _ in range(3):
                assert (await terminal.purchase(both, 100))["39"] == "00"
            assert (await terminal.purchase(both, 60_000))["39"] == "65"
            assert (await terminal.purchase(both, 0))["39"] == "13"
        # Started again: the day's counts come back from the journal.
        async with running_system(database_url, seeded=False) as system, \
                system.terminal(SECOND_TERMINAL) as terminal:
            await terminal.sign_on()
            assert (await terminal.purchase(counted, 100))["39"] == "65"
            assert (await terminal.purchase(amounted, 1))["39"] == "61"
            assert (await terminal.purchase(CARDS[6], 100))["39"] == "00"
        shown = json_document(await cli(jifen, "risk", "limits", "--alliance", "TEST",
                                        "--json"))
        assert shown["limits"] == [{"processing_code": "000000", "requests_per_hour_max": None,
                                    "requests_per_day_max": 3, "amount_per_day_max": 50000}]

    async def test_limits_changed_while_running_reach_the_host(self, jifen, database_url) -> None:
        pan, probe = CARDS[3], CARDS[7]
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            await cli(jifen, "risk", "set-limits", "--alliance", "TEST",
                      "--limit", "210000:-:-:1000")
            with anyio.fail_after(10):
                # (A probe of its own: what it loads before the limit arrives counts.)
                while (await terminal.load_stored_value(probe, 1_001))["39"] != "61":
                    await anyio.sleep(0.05)
            assert (await terminal.load_stored_value(pan, 1_000))["39"] == "00"
            assert (await terminal.load_stored_value(pan, 1))["39"] == "61"
            # Limits removed: a new version with none.
            await cli(jifen, "risk", "set-limits", "--alliance", "TEST")
            with anyio.fail_after(10):
                while (await terminal.load_stored_value(pan, 1))["39"] != "00":
                    await anyio.sleep(0.05)
        audited = await fetch(database_url, "SELECT action FROM audit_log"
                               " WHERE action = 'risk.settings'")
        assert len(audited) == 2

    async def test_what_set_limits_refuses(self, jifen, database_url) -> None:
        await seed(database_url)
        assert "cannot be limited" in await refused(
            jifen, "risk", "set-limits", "--alliance", "TEST", "--limit", "310000:1:-:-")
        assert "sets nothing" in await refused(
            jifen, "risk", "set-limits", "--alliance", "TEST", "--limit", "000000:-:-:-")
        assert "warning < block" in await refused(
            jifen, "risk", "set-limits", "--alliance", "TEST", "--growth", "10:5:100")
        assert "no alliance NOPE" in await refused(
            jifen, "risk", "set-limits", "--alliance", "NOPE", "--growth", "5:10:100")


class TestGrowth:
    async def test_a_card_far_above_its_baseline_is_blocked_and_released_on_approval(
        self, jifen, operator_of, as_operator, database_url,
    ) -> None:
        pan = CARDS[4]
        await seed(database_url)
        await cli(jifen, "risk", "set-limits", "--alliance", "TEST", "--growth", "5:10:100")
        # A small baseline: 20 points a day (below the floor: the floor of 100 counts).
        await fetch(database_url,
                     "INSERT INTO risk_baselines (alliance_id, subject, subject_id,"
                     " through_date, points_per_day) SELECT c.alliance_id, 'card', c.id,"
                     " current_date - 1, 20 FROM cards c WHERE c.pan_masked = $1",
                     mask_pan(pan))
        async with running_system(database_url, seeded=False) as system, \
                system.terminal() as terminal:
            await terminal.sign_on()
            assert (await terminal.purchase(pan, 40_000))["39"] == "00"     # 400: nothing
            assert (await terminal.purchase(pan, 20_000))["39"] == "00"     # 600 > 500: warning
            assert (await terminal.inquiry(pan))["39"] == "00"
            assert (await terminal.purchase(pan, 50_000))["39"] == "00"     # 1100 > 1000: block
            assert (await terminal.inquiry(pan))["39"] == "05"              # at once
            reviews = await fetch(
                database_url, "SELECT id, kind, level, status, card_id IS NOT NULL AS card"
                " FROM risk_reviews ORDER BY id")
            assert [(r["kind"], r["level"]) for r in reviews] == [
                ("card_points_growth", "warning"), ("merchant_points_growth", "warning"),
                ("card_points_growth", "block"), ("merchant_points_growth", "block")]
            status = await fetch(database_url, "SELECT status FROM cards WHERE pan_masked = $1",
                                  mask_pan(pan))
            assert status[0]["status"] == "blocked"
            # The member is told, in the same commit as the block (notifications' outbox).
            told = await fetch(
                database_url, "SELECT o.kind, o.status FROM notification_outbox o"
                " JOIN cards c ON c.id = o.card_id WHERE c.pan_masked = $1"
                " AND o.kind = 'card_blocked'", mask_pan(pan))
            assert [tuple(row) for row in told] == [("card_blocked", "blocked")]
            queue = json_document(await cli(jifen, "risk", "queue", "--json"), "[", "]")
            assert [item["id"] for item in queue] == [r["id"] for r in reviews]
            block = reviews[2]["id"]
            shown = await cli(jifen, "risk", "show", str(block))
            assert "block of card_points_growth" in shown and "points_today: 1100" in shown
            assert pan not in shown
            # An operator's release of the blocked card is a request; a second one approves.
            maker = await _operator(operator_of, "card_service")
            checker = await _operator(operator_of, "hq_admin")
            request = await _as(as_operator, maker, "risk", "release", str(block), "--json")
            assert request["action"] == "risk_release" and request["state"] == "pending"
            assert (await terminal.inquiry(pan))["39"] == "05"   # not before the approval
            decided = await _as(as_operator, checker, "approval", "approve", "--id",
                                str(request["id"]), "--json")
            assert "released: card" in decided["result"]
            await until(terminal, pan, "00")
            # Released today: the card is not blocked again for the same day's growth.
            assert (await terminal.purchase(pan, 10_000))["39"] == "00"
            assert (await terminal.inquiry(pan))["39"] == "00"
            # The merchant's block review is confirmed: the host never blocks a merchant.
            confirmed = json_document(await cli(jifen, "risk", "confirm",
                                                str(reviews[3]["id"]), "--json"))
            assert confirmed["status"] == "confirmed"
            assert "is confirmed already" in await refused(
                jifen, "risk", "confirm", str(reviews[3]["id"]))
        decided_rows = await fetch(database_url, "SELECT status, decided_by FROM risk_reviews"
                                    " WHERE id = ANY($1::bigint[]) ORDER BY id",
                                    [block, reviews[3]["id"]])
        assert [row["status"] for row in decided_rows] == ["released", "confirmed"]
        assert decided_rows[0]["decided_by"] == checker.name
        actions = {row["action"] for row in await fetch(
            database_url, "SELECT action FROM audit_log WHERE action LIKE 'risk.%'")}
        assert actions == {"risk.settings", "risk.release", "risk.confirm"}

    async def test_a_restarted_host_knows_the_day_and_what_it_raised(
        self, jifen, database_url,
    ) -> None:
        pan = CARDS[8]
        await seed(database_url)
        await cli(jifen, "risk", "set-limits", "--alliance", "TEST", "--growth", "5:10:100")
        async with running_system(database_url, seeded=False) as system, \
                system.terminal() as terminal:
            await terminal.sign_on()
            assert (await terminal.purchase(pan, 60_000))["39"] == "00"     # 600: warning
        async with running_system(database_url, seeded=False) as system, \
                system.terminal(SECOND_TERMINAL) as terminal:
            await terminal.sign_on()
            assert (await terminal.purchase(pan, 10_000))["39"] == "00"     # 700: raised
            assert (await terminal.purchase(pan, 40_000))["39"] == "00"     # 1100: block
            assert (await terminal.inquiry(pan))["39"] == "05"
        levels = await fetch(database_url, "SELECT kind, level FROM risk_reviews ORDER BY id")
        assert [(row["kind"], row["level"]) for row in levels] == [
            ("card_points_growth", "warning"), ("merchant_points_growth", "warning"),
            ("card_points_growth", "block"), ("merchant_points_growth", "block")]

    async def test_the_baseline_averages_30_days(self, jifen, database_url) -> None:
        pan = CARDS[5]
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            assert (await terminal.purchase(pan, 300_000))["39"] == "00"   # 3000 points
        await cli(jifen, "risk", "set-limits", "--alliance", "TEST", "--growth", "5:10:100")
        business_date = (await fetch(database_url, "SELECT max(business_date) AS d"
                                      " FROM transactions"))[0]["d"]
        runs = json_document(await cli(jifen, "risk", "baseline", "--date",
                                       business_date.isoformat(), "--json"), "[", "]")
        assert runs == [{"alliance_code": "TEST", "through": business_date.isoformat(),
                         "cards": 1, "merchants": 1}]
        rows = await fetch(database_url, "SELECT subject, points_per_day FROM risk_baselines"
                            " ORDER BY subject")
        assert [(row["subject"], row["points_per_day"]) for row in rows] == [
            ("card", 100), ("merchant", 100)]   # 3000 / 30


class TestRoles:
    async def test_who_reads_and_who_decides(self, jifen, operator_of, as_operator,
                                              database_url) -> None:
        """Over each operator's own database login (the grants of migration 034): auditors
        and card service read the settings and the queue; card service decides; an auditor
        decides nothing, nor does card service set limits."""
        await seed(database_url)
        await cli(jifen, "risk", "set-limits", "--alliance", "TEST", "--growth", "5:10:100")
        await fetch(database_url,
                     "INSERT INTO risk_reviews (alliance_id, merchant_id, kind, level,"
                     " business_date, raised_at) SELECT alliance_id, id,"
                     " 'merchant_points_growth', 'warning', current_date, now()"
                     " FROM merchants ORDER BY id LIMIT 1")
        auditor = await _operator(operator_of, "auditor")
        service = await _operator(operator_of, "card_service")
        queue = await anyio.to_thread.run_sync(
            lambda: as_operator(auditor, "risk", "queue", "--json"))
        assert queue.exit_code == 0, queue.err
        review = json_document(queue.out, "[", "]")[0]
        assert review["kind"] == "merchant_points_growth"
        limits = await _as(as_operator, service, "risk", "limits", "--alliance", "TEST",
                           "--json")
        assert limits["growth"] == {"warning_multiple": 5, "block_multiple": 10,
                                    "floor_points": 100}
        for operator, argv, what in (
                (auditor, ("risk", "confirm", str(review["id"])), "confirm risk reviews"),
                (service, ("risk", "set-limits", "--alliance", "TEST"),
                 "change risk settings")):
            run = await anyio.to_thread.run_sync(
                lambda who=operator, command=argv: as_operator(who, *command))
            assert run.exit_code == 2 and f"may not {what}" in run.err
        # A warning's release changes no card: card service does it at once, no request.
        released = await _as(as_operator, service, "risk", "release", str(review["id"]),
                             "--json")
        assert released == {"id": review["id"], "status": "released",
                            "result": f"risk review {review['id']} released"}
