"""Store-and-forward and automatic reversal (issue 8), end to end: real TCP, real PostgreSQL.

Every outcome is read from the database: the front's queue (front_saf) and the host's journal.
The audit of tests/e2e/conftest.py runs after each test: the ledger still balances.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import asyncpg
import msgspec
import pytest

from devices import messages
from devices.terminal_client import TerminalClient
from jifen.cli import main as jifen_main
from proto.fields import parse_balances
from proto.framing import encode_frame
from proto.iso_codec import encode_iso
from tests.e2e.system import CARDS, RunningSystem, running_system

pytestmark = pytest.mark.anyio

WAIT_S = 4.0
# A front whose queue retries quickly, so that a host back gets its reversals within a test.
FAST_SAF = {"saf_backoff_s_min": 0.05, "saf_backoff_s_max": 0.2, "saf_poll_interval_s": 0.05,
            "undelivered_check_s": 0.5}


async def restart_front(system: RunningSystem, **changes: object) -> None:
    await system.front.stop()
    system.front.config = msgspec.structs.replace(system.front.config, **changes)
    await system.front.start(system.group)


async def fast_saf_system(system: RunningSystem) -> RunningSystem:
    await restart_front(system, **FAST_SAF)
    return system


async def saf_rows(system: RunningSystem) -> list[dict]:
    rows = await system.fetch(
        "SELECT origin, state, terminal_code, stan, original_data, reason_code, attempts,"
        " last_response_code FROM front_saf ORDER BY id")
    return [dict(row) for row in rows]


async def until_settled(system: RunningSystem, count: int = 1) -> list[dict]:
    """The queue's rows once `count` of them are settled (a condition polled in the DB)."""
    with anyio.fail_after(WAIT_S):
        while True:
            rows = await saf_rows(system)
            if sum(row["state"] != "pending" for row in rows) >= count:
                return rows
            await anyio.sleep(0.02)


async def transactions(system: RunningSystem, stan: str) -> list[tuple[str, str]]:
    """(kind, MTI) of the journal's transactions of this terminal STAN, in order."""
    rows = await system.fetch(
        "SELECT kind, mti FROM transactions WHERE stan = $1 ORDER BY id", stan)
    return [(row["kind"], row["mti"]) for row in rows]


async def points(terminal: TerminalClient, pan: str) -> int:
    return parse_balances((await terminal.inquiry(pan))["54"])["0001999"]


async def jifen_saf(database_url: str, tmp_path: Path, capsys, *argv: str) -> str:
    """`jifen saf list ARGV`'s output (in a thread: the command runs its own event loop)."""
    config = tmp_path / "jifen.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n')
    capsys.readouterr()
    argv_all = ["--config", str(config), "saf", "list", *argv]
    assert await anyio.to_thread.run_sync(jifen_main, argv_all) == 0
    # The services of this process log to stdout too: their lines start with a date.
    return "".join(line for line in capsys.readouterr().out.splitlines(keepends=True)
                   if not line[:4].isdigit())


class TestUndeliveredApproval:
    async def test_terminal_gone_before_the_answer_is_reversed(self, database_url):
        async with running_system(database_url) as system:
            await fast_saf_system(system)
            async with system.terminal() as terminal:
                await terminal.sign_on()
                before = await points(terminal, CARDS[0])
                original = terminal.prepare(messages.purchase(CARDS[0], 5_000, 1))
                async with system.terminal() as leaving:
                    await leaving.send_raw(encode_frame(leaving.tpdu, encode_iso(original)))
                [row] = await until_settled(system)
                assert (row["origin"], row["state"], row["last_response_code"]) == \
                    ("undelivered", "acknowledged", "00")
                assert row["original_data"].startswith("0200" + original["11"] + original["7"])
                assert row["reason_code"] == "68"
                assert await transactions(system, original["11"]) == \
                    [("purchase", "0200"), ("reversal", "0420")]
                assert await points(terminal, CARDS[0]) == before

    async def test_half_closed_terminal_keeps_its_approval(self, database_url):
        async with running_system(database_url) as system:
            await fast_saf_system(system)
            async with system.terminal() as terminal:
                await terminal.sign_on()
            async with system.terminal() as terminal:
                original = terminal.prepare(messages.purchase(CARDS[1], 1_000, 1))
                stream = await anyio.connect_tcp("127.0.0.1", system.front_port)
                async with stream:
                    await stream.send(encode_frame(terminal.tpdu, encode_iso(original)))
                    await stream.send_eof()
                    with anyio.fail_after(WAIT_S):
                        assert len(await stream.receive()) > 20   # the 0210
            assert await transactions(system, original["11"]) == [("purchase", "0200")]
            assert await saf_rows(system) == []


class TestNoAnswer:
    async def test_host_down_91_then_reversed_when_it_is_back(
        self, database_url, tmp_path, capsys
    ):
        async with running_system(database_url) as system:
            await fast_saf_system(system)
            async with system.terminal() as terminal:
                await terminal.sign_on()
                await system.host.stop()
                answer = await terminal.request(messages.purchase(CARDS[2], 2_000, 1))
                assert answer["39"] == "91"
                [row] = await saf_rows(system)
                assert (row["origin"], row["state"], row["stan"]) == \
                    ("no_answer", "pending", answer["11"])
                listed = await jifen_saf(database_url, tmp_path, capsys)
                assert "no_answer" in listed and "pending" in listed
                assert CARDS[2] not in listed and CARDS[2][-4:] in listed
                await system.host.start(system.group)
                [row] = await until_settled(system)
                # The switch never reached the host: 25, and a tombstone for a late original.
                assert (row["state"], row["last_response_code"]) == ("acknowledged", "25")
                assert await transactions(system, answer["11"]) == []
                late = await terminal.request(messages.purchase(CARDS[2], 2_000, 1) | {
                    "11": answer["11"], "7": row["original_data"][10:20]})
                assert late["39"] == "05"
            assert (await jifen_saf(database_url, tmp_path, capsys)).strip() == "(none)"
            everything = await jifen_saf(database_url, tmp_path, capsys, "--all", "--json")
            [listed] = json.loads(everything)
            assert listed["state"] == "acknowledged" and listed["pan"].endswith(CARDS[2][-4:])
            assert CARDS[2] not in json.dumps(listed)

    async def test_answer_after_the_timeout_is_reversed(self, database_url):
        async with running_system(database_url, answer_timeout_s=0.3) as system:
            await fast_saf_system(system)
            async with system.terminal() as terminal:
                await terminal.sign_on()
                before = await points(terminal, CARDS[3])
                async with slow_host(system):
                    answer = await terminal.request(messages.purchase(CARDS[3], 3_000, 1))
                    assert answer["39"] == "91"
                [row] = await until_settled(system)
                assert (row["origin"], row["state"], row["last_response_code"]) == \
                    ("no_answer", "acknowledged", "00")
                assert await transactions(system, answer["11"]) == \
                    [("purchase", "0200"), ("reversal", "0420")]
                assert await points(terminal, CARDS[3]) == before


class slow_host:
    """Holds the host's next commit on a table lock until the block ends: a host that answers
    late, with no seam in its code."""

    def __init__(self, system: RunningSystem) -> None:
        self._system = system

    async def __aenter__(self) -> None:
        self._connection = await asyncpg.connect(self._system.database_url)
        self._transaction = self._connection.transaction()
        await self._transaction.start()
        await self._connection.execute("LOCK TABLE host_requests IN EXCLUSIVE MODE")

    async def __aexit__(self, *exc_info: object) -> None:
        await self._transaction.rollback()
        await self._connection.close()


class TestRestart:
    async def test_pending_rows_are_delivered_after_a_front_restart(self, database_url):
        async with running_system(database_url) as system:
            await fast_saf_system(system)
            async with system.terminal() as terminal:
                await terminal.sign_on()
                await system.host.stop()
                answer = await terminal.request(messages.purchase(CARDS[4], 2_000, 1))
                assert answer["39"] == "91"
            await system.front.stop()
            assert [row["state"] for row in await saf_rows(system)] == ["pending"]
            await system.host.start(system.group)
            await system.front.start(system.group)
            [row] = await until_settled(system)
            assert row["state"] == "acknowledged"
            assert await transactions(system, answer["11"]) == []


class TestTerminalAdvice:
    async def test_own_0420_is_00_once_durable_and_delivered_once(self, database_url):
        async with running_system(database_url) as system:
            await fast_saf_system(system)
            async with system.terminal() as terminal:
                await terminal.sign_on()
                before = await points(terminal, CARDS[5])
                purchase = await terminal.exchange(messages.purchase(CARDS[5], 4_000, 1))
                assert purchase.answer["39"] == "00"
                await system.host.stop()
                advice = terminal.prepare(messages.reversal(purchase.request, "68", advice=True))
                answer = await terminal.request(advice)
                assert (answer["t"], answer["39"]) == ("0430", "00")
                [row] = await saf_rows(system)
                assert (row["origin"], row["state"]) == ("terminal", "pending")
                await system.host.start(system.group)
                [row] = await until_settled(system)
                assert (row["state"], row["last_response_code"]) == ("acknowledged", "00")
                # The terminal's own retransmission is the same request to the host.
                assert (await terminal.request(advice))["39"] == "00"
                assert await transactions(system, advice["11"]) == \
                    [("purchase", "0200"), ("reversal", "0420")]
                assert await system.fetchval(
                    "SELECT count(*) FROM host_requests WHERE mti = '0420'") == 1
                assert await points(terminal, CARDS[5]) == before
