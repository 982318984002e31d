"""Cards, shops and terminals through their life, driven by the `jifen` command while the
system runs, and what a terminal gets after each step (host interface §4, §6)."""

from __future__ import annotations

import anyio
import asyncpg
import pytest

from devices import messages
from devices.terminal_client import TerminalClient
from tests.e2e.system import CARDS, MERCHANT, TERMINAL, RunningSystem, running_system, seed
from tests.e2e.test_mac import MAC_TERMINAL, TMK, _until_answer
from tests.e2e.test_transactions import POINTS, balances
from tests.keys_kit import front_key_pair
from tests.provisioning.cli_harness import TEST_KEK_HEX
from tests.provisioning.conftest import jifen

pytestmark = pytest.mark.anyio

__all__ = ["jifen"]  # the fixture, for these tests

NEW_TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


async def cli(jifen, *argv: str) -> str:
    """Run `jifen *argv` (it runs its own event loop: in a thread); its output."""
    run = await anyio.to_thread.run_sync(lambda: jifen(*argv))
    assert run.exit_code == 0, run.err
    return run.out


async def refused(jifen, *argv: str) -> str:
    run = await anyio.to_thread.run_sync(lambda: jifen(*argv))
    assert run.exit_code == 2, run.out
    return run.err


async def until(terminal: TerminalClient, pan: str, code: str) -> dict[str, str]:
    return await _until_answer(terminal, messages.inquiry(pan), code)


class TestCardLife:
    async def test_each_step_and_what_the_terminal_gets(self, jifen, database_url) -> None:
        pan = CARDS[0]
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            assert (await terminal.purchase(pan, 10_000))["39"] == "00"   # 100 points
            await cli(jifen, "card", "lost", "--pan", pan)
            await until(terminal, pan, "41")
            await cli(jifen, "card", "stolen", "--pan", pan)
            await until(terminal, pan, "43")
            out = await cli(jifen, "card", "found", "--pan", pan)
            assert "stolen -> active" in out and pan not in out
            await until(terminal, pan, "00")
            await cli(jifen, "card", "block", "--pan", pan)
            await until(terminal, pan, "05")
            assert "is blocked: `lost` applies to a card that is active" in await refused(
                jifen, "card", "lost", "--pan", pan)
            await cli(jifen, "card", "unblock", "--pan", pan)
            await until(terminal, pan, "00")
            await cli(jifen, "card", "expire", "--pan", pan)
            await until(terminal, pan, "54")
            await cli(jifen, "card", "renew", "--pan", pan, "--expires", "2035-06")
            renewed = await until(terminal, pan, "00")
            assert balances(renewed)[POINTS] == 100   # what it earned, kept through it all

    async def test_a_card_sold_inactive_is_05_until_activated(
        self, jifen, database_url,
    ) -> None:
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            await cli(jifen, "card", "issue", "--alliance", "TEST", "--bin", "622188",
                      "--count", "1", "--inactive", "--out", "sold.csv")
            with open("sold.csv") as handle:
                pan = handle.read().splitlines()[1].split(",")[0]
            await until(terminal, pan, "05")
            assert "`activate` applies to a card that is inactive" not in await cli(
                jifen, "card", "activate", "--pan", pan)
            await until(terminal, pan, "00")
            assert "is active: `activate` applies to a card that is inactive" in await refused(
                jifen, "card", "activate", "--pan", pan)


class TestShopsAndTerminals:
    async def test_an_inactive_shop_or_terminal_is_58(self, jifen, database_url) -> None:
        async with running_system(database_url) as system, system.terminal() as terminal:
            await terminal.sign_on()
            await cli(jifen, "shop", "create", "--merchant", MERCHANT, "--code", "EAST1",
                      "--name", "东门店")
            await _shop_of(system, TERMINAL, "EAST1")
            await cli(jifen, "shop", "deactivate", "--code", "EAST1")
            await until(terminal, CARDS[1], "58")
            await cli(jifen, "shop", "activate", "--code", "EAST1")
            await until(terminal, CARDS[1], "00")
            await cli(jifen, "terminal", "deactivate", "--code", TERMINAL)
            await until(terminal, CARDS[1], "58")
            await cli(jifen, "terminal", "activate", "--code", TERMINAL)
            await until(terminal, CARDS[1], "00")

    async def test_a_rotated_tmk_voids_the_session_until_a_sign_on_under_it(
        self, jifen, database_url, tmp_path,
    ) -> None:
        await seed(database_url)
        await _add_mac_terminal(database_url)   # before the front starts: it knows it at once
        async with running_system(database_url, seeded=False) as system:
            async with TerminalClient("127.0.0.1", system.front_port, MAC_TERMINAL, MERCHANT,
                                      timeout_s=10.0, tmk=TMK) as terminal:
                assert (await terminal.sign_on())["39"] == "00"
                assert (await terminal.purchase(CARDS[2], 1_000))["39"] == "00"
                (tmp_path / "new.tmk").write_text(NEW_TMK.hex() + "\n")
                out = await cli(jifen, "terminal", "rotate-tmk", "--code", MAC_TERMINAL,
                                "--tmk-file", str(tmp_path / "new.tmk"))
                assert "check value" in out and NEW_TMK.hex().upper() not in out.upper()
                # The old session is void at once: not signed on (58) until a sign-on under
                # the new TMK, and its old key MACs nothing.
                await _until_answer(terminal, messages.inquiry(CARDS[2]), "58")
                assert (await terminal.sign_on())["39"] == "A0"   # MACed under the old TMK
            async with TerminalClient("127.0.0.1", system.front_port, MAC_TERMINAL, MERCHANT,
                                      timeout_s=10.0, tmk=NEW_TMK) as terminal:
                assert (await terminal.sign_on())["39"] == "00"
                exchange = await terminal.exchange(messages.purchase(CARDS[2], 1_000, 1))
                assert (exchange.answer["39"], exchange.mac_verified) == ("00", True)


async def _shop_of(system: RunningSystem, terminal_code: str, shop_code: str) -> None:
    """Put an existing terminal into a shop (as a migration of its records would)."""
    connection = await asyncpg.connect(system.database_url)
    try:
        await connection.execute(
            "UPDATE terminals SET shop_id = (SELECT id FROM shops WHERE shop_code = $2)"
            " WHERE terminal_code = $1", terminal_code, shop_code)
    finally:
        await connection.close()


async def _add_mac_terminal(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        sealed = (await front_key_pair(connection, bytes.fromhex(TEST_KEK_HEX))).seal(
            TMK, MAC_TERMINAL)
        await connection.execute(
            "INSERT INTO terminals (terminal_code, merchant_id, requires_mac, tmk_encrypted)"
            " SELECT $1, id, true, $2 FROM merchants WHERE merchant_code = $3",
            MAC_TERMINAL, sealed, MERCHANT)
    finally:
        await connection.close()
