"""Back-office changes of balances while the system runs: each a command the account host
applies (the only writer), most only once a second operator approves; what a terminal then
gets, and what the journal holds (SQL)."""

from __future__ import annotations

import json

import anyio
import asyncpg
import pytest

from devices import messages
from devices.terminal_client import TerminalClient
from tests.account_host.host_harness import fetch
from tests.e2e.cli_output import json_document
from tests.e2e.system import CARDS, running_system, seed
from tests.e2e.test_lifecycle import cli, until
from tests.e2e.test_transactions import POINTS, STORED_VALUE, balances
from tests.operators.conftest import Operator, as_operator, operator_of
from tests.provisioning.conftest import jifen

pytestmark = pytest.mark.anyio

__all__ = ["as_operator", "jifen", "operator_of"]  # the fixtures, for these tests


async def _operator(operator_of, role: str) -> Operator:
    return await anyio.to_thread.run_sync(lambda: operator_of(role))


async def _as(as_operator, operator: Operator, *argv: str):
    return await anyio.to_thread.run_sync(lambda: as_operator(operator, *argv))


async def _request(as_operator, maker: Operator, *argv: str) -> int:
    run = await _as(as_operator, maker, "card", *argv, "--json")
    assert run.exit_code == 0, run.err
    return json_document(run.out)["id"]


async def _approve(as_operator, checker: Operator, request_id: int) -> dict:
    run = await _as(as_operator, checker, "approval", "approve", "--id", str(request_id),
                    "--json")
    assert run.exit_code == 0, run.err
    decided = json_document(run.out)
    assert decided["state"] == "approved"
    return decided["command"]


async def _balances(terminal: TerminalClient, pan: str) -> dict[str, int]:
    answer = await until(terminal, pan, "00")
    return balances(answer)


async def _new_card(jifen, name: str) -> str:
    await cli(jifen, "card", "issue", "--alliance", "TEST", "--bin", "622188", "--count", "1",
              "--inactive", "--out", name)
    with open(name) as handle:
        return handle.read().splitlines()[1].split(",")[0]


class TestApprovedChanges:
    async def test_adjustments_and_a_transfer_post_only_once_approved(
        self, jifen, operator_of, as_operator, database_url,
    ) -> None:
        giver, taker = CARDS[3], CARDS[4]
        maker = await _operator(operator_of, "card_service")
        checker = await _operator(operator_of, "hq_admin")
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            start = await _balances(terminal, giver)
            request_id = await _request(as_operator, maker, "adjust", "--pan", giver,
                                        "--points", "500", "--reason", "goodwill: late delivery")
            assert await _balances(terminal, giver) == start   # nothing until approved
            own = await _as(as_operator, maker, "approval", "approve", "--id", str(request_id))
            assert own.exit_code == 2 and "is yours" in own.err
            command = await _approve(as_operator, checker, request_id)
            assert (command["state"], command["result_code"]) == ("done", "00")
            after = await _balances(terminal, giver)
            assert after[POINTS] == start[POINTS] + 500

            request_id = await _request(as_operator, maker, "adjust", "--pan", giver,
                                        "--stored-value", "1234", "--reason", "refund of fee")
            await _approve(as_operator, checker, request_id)
            assert (await _balances(terminal, giver))[STORED_VALUE] == start[STORED_VALUE] + 1234

            # Taking more than the card holds is refused before a request is made.
            over = await _as(as_operator, maker, "card", "adjust", "--pan", giver, "--points",
                             str(-(after[POINTS] + 1)), "--reason", "error")
            assert over.exit_code == 2 and "below zero" in over.err

            # Transfers: refused while the alliance does not allow them.
            refused = await _as(as_operator, maker, "card", "transfer", "--pan", giver,
                                "--to-pan", taker, "--points", "200", "--reason", "gift")
            assert refused.exit_code == 2 and "does not allow transfers" in refused.err
            await cli(jifen, "alliance", "set-points-transfer", "--code", "TEST", "--allowed")
            taker_start = await _balances(terminal, taker)
            request_id = await _request(as_operator, maker, "transfer", "--pan", giver,
                                        "--to-pan", taker, "--points", "200", "--reason", "gift")
            command = await _approve(as_operator, checker, request_id)
            assert command["result_code"] == "00", command
            assert (await _balances(terminal, giver))[POINTS] == after[POINTS] - 200
            assert (await _balances(terminal, taker))[POINTS] == taker_start[POINTS] + 200

        rows = await fetch(database_url, """
            SELECT t.kind, t.points, t.stored_value_fen, t.terminal_code, t.merchant_id,
                   h.state, a.requested_by, a.decided_by
            FROM transactions t JOIN host_commands h ON h.id = t.command_id
            JOIN approval_requests a ON a.id = h.approval_id ORDER BY t.id""")
        assert [(r["kind"], r["points"], r["stored_value_fen"], r["terminal_code"],
                 r["merchant_id"], r["state"], r["requested_by"], r["decided_by"])
                for r in rows] == [
            ("points_adjustment", 500, 0, None, None, "done", maker.name, checker.name),
            ("stored_value_adjustment", 0, 1234, None, None, "done", maker.name, checker.name),
            ("points_transfer", -200, 0, None, None, "done", maker.name, checker.name)]
        # The members are told, both sides of the transfer too (migration 035).
        events = await fetch(database_url, """
            SELECT o.kind, o.transaction_kind, o.points, o.stored_value_fen,
                   o.card_id = t.card_id AS named_card
            FROM notification_outbox o JOIN transactions t ON t.id = o.transaction_id
            WHERE t.command_id IS NOT NULL ORDER BY o.id""")
        assert [tuple(row) for row in events] == [
            ("points_earned", "points_adjustment", 500, 0, True),
            ("stored_value_moved", "stored_value_adjustment", 0, 1234, True),
            ("points_spent", "points_transfer", -200, 0, True),
            ("points_earned", "points_transfer", 200, 0, False)]

    async def test_close_and_refund_pays_out_and_the_card_is_then_05(
        self, jifen, operator_of, as_operator, database_url,
    ) -> None:
        pan = CARDS[5]
        maker = await _operator(operator_of, "card_service")
        checker = await _operator(operator_of, "hq_admin")
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            assert (await terminal.purchase(pan, 30_000))["39"] == "00"   # earns points
            request_id = await _request(as_operator, maker, "adjust", "--pan", pan,
                                        "--stored-value", "5000", "--reason", "opening credit")
            await _approve(as_operator, checker, request_id)
            held = await _balances(terminal, pan)
            request_id = await _request(as_operator, maker, "close", "--pan", pan,
                                        "--reason", "member left the programme")
            command = await _approve(as_operator, checker, request_id)
            assert command["result_code"] == "00", command
            await until(terminal, pan, "05")
            again = await _as(as_operator, maker, "card", "close", "--pan", pan,
                              "--reason", "twice")
            assert again.exit_code == 2 and "is closed" in again.err

        [row] = await fetch(database_url, """
            SELECT c.status,
                   (SELECT balance FROM accounts WHERE kind = 'member_points' AND card_id = c.id)
                       AS points,
                   (SELECT balance FROM accounts
                    WHERE kind = 'member_stored_value' AND card_id = c.id) AS fen,
                   (SELECT sum(p.amount) FROM postings p JOIN accounts a ON a.id = p.account_id
                    JOIN journal_entries e ON e.id = p.entry_id
                    JOIN transactions t ON t.id = e.transaction_id
                    WHERE t.kind = 'card_closure' AND a.kind = 'alliance_stored_value_refunded')
                       AS refunded,
                   (SELECT sum(p.amount) FROM postings p JOIN accounts a ON a.id = p.account_id
                    JOIN journal_entries e ON e.id = p.entry_id
                    JOIN transactions t ON t.id = e.transaction_id
                    WHERE t.kind = 'card_closure' AND a.kind = 'alliance_breakage') AS forfeited
            FROM cards c WHERE c.pan_masked = $1""", f"{pan[:6]}******{pan[-4:]}")
        assert (row["status"], row["points"], row["fen"]) == ("closed", 0, 0)
        assert (row["refunded"], row["forfeited"]) == (held[STORED_VALUE], held[POINTS])


class TestReplacement:
    async def test_a_new_card_takes_every_balance_and_the_old_one_gets_05(
        self, jifen, operator_of, as_operator, database_url,
    ) -> None:
        old = CARDS[6]
        card_service = await _operator(operator_of, "card_service")
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            assert (await terminal.purchase(old, 25_000))["39"] == "00"
            held = await _balances(terminal, old)
            new = await _new_card(jifen, "new.csv")
            await until(terminal, new, "05")    # sold, not activated
            run = await _as(as_operator, card_service, "card", "replace", "--pan", old,
                            "--new-pan", new, "--reason", "reported lost at the counter")
            assert run.exit_code == 0, run.err
            assert "done" in run.out and old not in run.out and new not in run.out
            await until(terminal, old, "05")
            assert (await _balances(terminal, new)) == held
            assert (await terminal.purchase(new, 1_000))["39"] == "00"   # and it transacts
            # A closed card takes no part in anything more.
            again = await _as(as_operator, card_service, "card", "replace", "--pan", old,
                              "--new-pan", new, "--reason", "again")
            assert again.exit_code == 2 and "is closed" in again.err

    async def test_the_host_refuses_a_change_that_was_never_approved(
        self, jifen, operator_of, database_url,
    ) -> None:
        """Past the CLI, with the operator's own login: the row is written, the host reads no
        approval for it and refuses it (12); the balance stays."""
        pan = CARDS[7]
        card_service = await _operator(operator_of, "card_service")
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            start = await _balances(terminal, pan)
            [card] = await fetch(database_url, "SELECT id FROM cards WHERE pan_masked = $1",
                                  f"{pan[:6]}******{pan[-4:]}")
            connection = await asyncpg.connect(card_service.url)
            try:
                command_id = await connection.fetchval(
                    "INSERT INTO host_commands (kind, payload, card_id) VALUES"
                    " ('points_adjustment', $1::jsonb, $2) RETURNING id",
                    json.dumps({"card_id": card["id"], "reason": "no one asked",
                                "other_card_id": None, "points": 100000,
                                "stored_value_fen": 0}), card["id"])
                await connection.execute("SELECT pg_notify('jifen_changes', 'host_commands')")
            finally:
                await connection.close()
            with anyio.fail_after(10):
                while True:
                    [row] = await fetch(database_url, "SELECT state, result_code, result"
                                         " FROM host_commands WHERE id = $1", command_id)
                    if row["state"] != "pending":
                        break
                    await anyio.sleep(0.05)
            assert (row["state"], row["result_code"]) == ("refused", "12")
            assert "not approved" in row["result"]
            assert await _balances(terminal, pan) == start
            assert (await terminal.exchange(messages.inquiry(pan))).answer["39"] == "00"


async def test_a_command_made_while_the_host_is_down_is_applied_when_it_starts(
    jifen, database_url,
) -> None:
    """Notifications sent while no host listens are lost: a starting host reads the pending
    commands itself."""
    old, new = CARDS[8], CARDS[9]
    await seed(database_url)
    masks = [f"{pan[:6]}******{pan[-4:]}" for pan in (old, new)]
    rows = await fetch(database_url, "SELECT id FROM cards WHERE pan_masked = ANY($1)"
                        " ORDER BY array_position($1, pan_masked)", masks)
    old_id, new_id = (row["id"] for row in rows)
    connection = await asyncpg.connect(database_url)
    try:
        command_id = await connection.fetchval(
            "INSERT INTO host_commands (kind, payload, card_id, other_card_id) VALUES"
            " ('card_replacement', $1::jsonb, $2, $3) RETURNING id",
            json.dumps({"card_id": old_id, "reason": "made while the host was down",
                        "other_card_id": new_id, "points": 0, "stored_value_fen": 0}),
            old_id, new_id)
    finally:
        await connection.close()
    async with running_system(database_url, seeded=False) as system, \
            system.terminal() as terminal:
        await terminal.sign_on()
        await until(terminal, old, "05")
        [row] = await fetch(database_url, "SELECT state, result_code FROM host_commands"
                             " WHERE id = $1", command_id)
        assert (row["state"], row["result_code"]) == ("done", "00")
