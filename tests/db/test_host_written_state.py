"""Migration 030, in SQL as the roles use it: the host inserts outcomes, card statuses and stock
into tables of its own and may update no row of the back office's; triggers fold each into the
back office's row as the host wrote it before (a command decided once; a gift's and a limited
prize's stock summed over partitions)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import asyncpg
import pytest

from account_host.commands.reading import read_pending
from database.roles import Role
from tests.e2e.system import seed

pytestmark = pytest.mark.anyio

# A card closure's transaction as the batch statement writes one, and its outcome and status.
_CLOSURE_SQL = """
WITH t AS (
    INSERT INTO transactions (id, kind, business_date, posted_at, card_id, amount, currency,
                              points, stored_value_fen, command_id)
    VALUES (7, 'card_closure', '2026-12-07', now(), $2, 0, '156', 0, 0, $1) RETURNING 1
), o AS (
    INSERT INTO command_outcomes (command_id, state, result_code, result, transaction_id,
                                  done_at)
    VALUES ($1, 'done', '00', 'closed', 7, now()) RETURNING 1
)
INSERT INTO card_status_changes (card_id, status, transaction_id, changed_at)
VALUES ($2, 'closed', 7, now())
"""


@asynccontextmanager
async def _connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        yield connection
    finally:
        await connection.close()


async def _closure_requested(owner: asyncpg.Connection) -> tuple[int, int]:
    """A pending closure of the first card, as the back office asks for one: (card, command)."""
    card_id: int = await owner.fetchval("SELECT min(id) FROM cards")
    command_id: int = await owner.fetchval(
        "INSERT INTO host_commands (kind, payload, card_id) VALUES"
        " ('card_closure', $1::jsonb, $2) RETURNING id",
        json.dumps({"card_id": card_id, "reason": "left", "other_card_id": None,
                    "points": 0, "stored_value_fen": 0}), card_id)
    return card_id, command_id


async def _host_url(role_url) -> str:
    url: str = await anyio.to_thread.run_sync(role_url, Role.HOST)
    return url


@pytest.mark.parametrize("statement", [
    "UPDATE host_commands SET state = 'refused'", "UPDATE cards SET status = 'closed'",
    "UPDATE gift_catalogue SET stock = 1", "UPDATE gift_catalogue SET active = false",
    "UPDATE lottery_prize_stock SET stock = 1",
])
async def test_the_host_updates_no_row_of_the_back_offices(role_url, statement) -> None:
    async with _connected(await _host_url(role_url)) as host:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await host.execute(statement)


async def test_an_outcome_decides_its_command_once_and_closes_its_card(
    database_url, role_url,
) -> None:
    await seed(database_url)
    async with _connected(database_url) as owner:
        card_id, command_id = await _closure_requested(owner)
        async with _connected(await _host_url(role_url)) as host:
            await host.execute(_CLOSURE_SQL, command_id, card_id)
            with pytest.raises(asyncpg.UniqueViolationError):   # decided once
                await host.execute(
                    "INSERT INTO command_outcomes (command_id, state, result_code, done_at)"
                    " VALUES ($1, 'refused', '05', now())", command_id)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):   # and never edited
                await host.execute("UPDATE command_outcomes SET result = 'changed'")
        row = await owner.fetchrow(
            "SELECT h.state, h.result_code, h.result, h.transaction_id,"
            "       h.done_at = o.done_at AS same_instant, c.status"
            " FROM host_commands h JOIN command_outcomes o ON o.command_id = h.id"
            " JOIN cards c ON c.id = h.card_id WHERE h.id = $1", command_id)
    assert tuple(row) == ("done", "00", "closed", 7, True, "closed")


async def test_a_command_with_an_outcome_here_is_not_read_as_pending(
    database_url, role_url,
) -> None:
    """As in a partition whose copy of host_commands lags behind the outcome its host wrote
    (step 3): with the fold held back, the row still says pending; the host reads its own
    outcome and does not take the command again."""
    await seed(database_url)
    async with _connected(database_url) as owner:
        await owner.execute("ALTER TABLE command_outcomes DISABLE TRIGGER command_outcomes_fold")
        _, command_id = await _closure_requested(owner)
        async with _connected(await _host_url(role_url)) as host:
            assert [c.correlation_id for c in await read_pending(host, "main")] == [command_id]
            await host.execute(
                "INSERT INTO command_outcomes (command_id, state, result_code, result, done_at)"
                " VALUES ($1, 'refused', '12', 'not approved', now())", command_id)
            assert await read_pending(host, "main") == []
        assert await owner.fetchval("SELECT state FROM host_commands") == "pending"


async def test_stock_is_summed_over_partitions(database_url, role_url) -> None:
    await seed(database_url)
    async with _connected(database_url) as owner:
        await owner.execute("""
            INSERT INTO partitions (name, number, state) VALUES ('p2', 1, 'ready');
            INSERT INTO gift_catalogue (alliance_id, gift_code, name, points, stock,
                                        stock_initial)
            SELECT id, 'LAMP', 'Desk lamp', 40, 5, 5 FROM alliances WHERE code = 'TEST';
            INSERT INTO lottery_campaigns (alliance_id, code, draw_price_points, prize_table)
            SELECT id, 'SPRING', 10, '{}' FROM alliances WHERE code = 'TEST';
            INSERT INTO lottery_prize_stock (campaign_id, prize_code, stock)
            SELECT id, 'CUP', 5 FROM lottery_campaigns""")
        alliance_id = await owner.fetchval("SELECT id FROM alliances WHERE code = 'TEST'")
        campaign_id = await owner.fetchval("SELECT id FROM lottery_campaigns")

        async def written(host: asyncpg.Connection, partition: str, stock: int, active: bool,
                          prizes: int) -> tuple[object, ...]:
            """One partition's stock rows as its batch writes them; the catalogue's after."""
            await host.execute(
                "INSERT INTO gift_stock (alliance_id, gift_code, partition, stock, active)"
                " VALUES ($1, 'LAMP', $2, $3, $4) ON CONFLICT (alliance_id, gift_code,"
                " partition) DO UPDATE SET stock = EXCLUDED.stock, active = EXCLUDED.active",
                alliance_id, partition, stock, active)
            await host.execute(
                "INSERT INTO prize_stock (campaign_id, prize_code, partition, stock)"
                " VALUES ($1, 'CUP', $2, $3) ON CONFLICT (campaign_id, prize_code, partition)"
                " DO UPDATE SET stock = EXCLUDED.stock", campaign_id, partition, prizes)
            row = await owner.fetchrow(
                "SELECT g.stock, g.active, p.stock FROM gift_catalogue g, lottery_prize_stock p"
                " WHERE g.gift_code = 'LAMP' AND p.prize_code = 'CUP'")
            return tuple(row)

        async with _connected(await _host_url(role_url)) as host:
            assert await written(host, "main", 4, True, 4) == (4, True, 4)
            assert await written(host, "p2", 3, False, 2) == (7, True, 6)
            assert await written(host, "main", 2, False, 0) == (5, False, 2)
