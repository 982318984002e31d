"""A back-office command whose group commit fails: the state is reloaded, the command is read
again and applied once, as a request of that batch would be answered 96 and sent again."""

from __future__ import annotations

import json

import anyio
import asyncpg
import pytest
from prometheus_client import REGISTRY

from account_host.database import writer_application_name
from proto.frames import Balances
from tests.account_host.host_harness import (
    CARDS,
    WAIT_S,
    Terminal,
    fetch,
    running_host,
    wait_writer_waits_on_lock,
)
from tests.keys_kit import lookup_hash

pytestmark = pytest.mark.anyio


async def test_a_command_cut_off_in_its_commit_is_applied_once(seeded_url: str) -> None:
    terminal = Terminal()
    old, new = CARDS[5], CARDS[6]
    failures = _batch_failures()
    async with running_host(seeded_url) as host:
        assert (await host.ask(terminal.purchase(old, 30_000))).response_code == "00"
        old_id, new_id = await _card_ids(seeded_url, old, new)
        blocker = await asyncpg.connect(seeded_url)
        try:
            async with blocker.transaction():
                # The replacement's statement writes the accounts: it waits on this lock.
                await blocker.execute("LOCK TABLE accounts IN EXCLUSIVE MODE")
                await _replace(seeded_url, old_id, new_id)
                await wait_writer_waits_on_lock(blocker)
                await blocker.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = $1 AND datname = current_database()",
                    writer_application_name("main"))
        finally:
            await blocker.close()
        with anyio.fail_after(WAIT_S):
            while (await fetch(seeded_url, "SELECT state FROM host_commands"))[0][0] \
                    == "pending":
                await anyio.sleep(0.05)
        moved = await host.ask(terminal.inquiry(new))
        closed = await host.ask(terminal.inquiry(old))
    assert _batch_failures() == failures + 1, "the command's batch did not fail"
    assert moved.balances == Balances(300, 0, 0) and closed.response_code == "05"
    assert [tuple(row) for row in await fetch(
        seeded_url, "SELECT kind, state FROM host_commands")] == [("card_replacement", "done")]
    assert len(await fetch(seeded_url,
                           "SELECT 1 FROM transactions WHERE command_id IS NOT NULL")) == 1


def _batch_failures() -> float:
    return REGISTRY.get_sample_value("jifen_host_batch_failures_total") or 0.0


async def _card_ids(database_url: str, *pans: str) -> list[int]:
    connection = await asyncpg.connect(database_url)
    try:
        return [await connection.fetchval("SELECT id FROM cards WHERE pan_hmac = $1",
                                          await lookup_hash(connection, pan)) for pan in pans]
    finally:
        await connection.close()


async def _replace(database_url: str, old_id: int, new_id: int) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO host_commands (kind, payload, card_id, other_card_id) VALUES"
                " ('card_replacement', $1::jsonb, $2, $3)",
                json.dumps({"card_id": old_id, "reason": "test", "other_card_id": new_id,
                            "points": 0, "stored_value_fen": 0}), old_id, new_id)
            await connection.execute("SELECT pg_notify('jifen_changes', 'host_commands')")
    finally:
        await connection.close()
