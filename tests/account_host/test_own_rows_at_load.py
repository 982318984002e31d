"""The host's load reads its own rows where they are newer than central's (migration 031).

In a partition, the rows the host's batches change (a card's status, a gift's and a prize's
stock) are read-only copies of central's, which take the host's change only once it has gone
to central, been folded there, and come back: seconds, or a central outage. A host that
reloads meanwhile (a failed batch, a restart) must not open a card it closed nor restore
stock it gave out. Here the folds are off, as `jifen partition add` leaves them in a
partition, so the shared rows lag exactly as a partition's copies do.
"""

from __future__ import annotations

import json

import asyncpg
import pytest

from account_host.loading import load_cards, load_gifts
from account_host.lottery.loading import load_campaigns
from proto.codes import ResponseCode
from tests.e2e.system import seed

pytestmark = pytest.mark.anyio

# A closure as the host's batch writes it: its transaction and the card's new status.
_CLOSED_SQL = """
WITH t AS (
    INSERT INTO transactions (id, kind, business_date, posted_at, card_id, amount, currency,
                              points, stored_value_fen, command_id)
    VALUES (7, 'card_closure', '2026-12-07', now(), $1, 0, '156', 0, 0, $2) RETURNING 1
)
INSERT INTO card_status_changes (card_id, status, transaction_id, changed_at)
VALUES ($1, 'closed', 7, now() - interval '1 minute')
"""
_PRIZES = {"prizes": [{"code": "WIN", "kind": "points", "ppm": 300000, "points": 120,
                       "stock": 3}]}


async def _as_a_partition(connection: asyncpg.Connection) -> None:
    for table in ("command_outcomes", "card_status_changes", "gift_stock", "prize_stock"):
        await connection.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_fold")


async def _decline(connection: asyncpg.Connection, card_id: int) -> ResponseCode | None:
    (loaded,) = await load_cards(connection, "main", only_ids=[card_id], limit=1)
    return loaded.card.decline_code


async def test_a_card_the_host_closed_stays_closed_until_central_says_newer(
    database_url: str,
) -> None:
    await seed(database_url)
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        await _as_a_partition(connection)
        card_id = await connection.fetchval("SELECT min(id) FROM cards WHERE status = 'active'")
        command_id = await connection.fetchval(
            "INSERT INTO host_commands (kind, payload, card_id) VALUES ('card_closure', $1, $2)"
            " RETURNING id", json.dumps({"card_id": card_id, "reason": "left",
                                         "other_card_id": None, "points": 0,
                                         "stored_value_fen": 0}), card_id)
        await connection.execute(_CLOSED_SQL, card_id, command_id)
        # The lag: central's row, as the partition holds it, still says active.
        assert await connection.fetchval("SELECT status FROM cards WHERE id = $1",
                                         card_id) == "active"
        assert await _decline(connection, card_id) is ResponseCode.DO_NOT_HONOUR
        # Central's row catches up (the fold stamps the host's own time): the same.
        await connection.execute(
            "UPDATE cards SET status = 'closed', status_changed_at = now() - interval '1 minute'"
            " WHERE id = $1", card_id)
        assert await _decline(connection, card_id) is ResponseCode.DO_NOT_HONOUR
        # A change central makes later (stamped now) is newer than the host's: it wins.
        await connection.execute("UPDATE cards SET status = 'lost' WHERE id = $1", card_id)
        assert await _decline(connection, card_id) is ResponseCode.CARD_LOST
    finally:
        await connection.close()


async def test_gift_and_prize_stock_are_the_host_s_own_once_it_changed_them(
    database_url: str,
) -> None:
    await seed(database_url)
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        await _as_a_partition(connection)
        alliance_id = await connection.fetchval("SELECT id FROM alliances WHERE code = 'TEST'")
        await connection.execute(
            "INSERT INTO gift_catalogue (alliance_id, gift_code, name, points, stock,"
            " stock_initial, host_name) VALUES ($1, 'LAMP', 'Desk lamp', 40, 5, 5, 'main')",
            alliance_id)
        campaign_id = await connection.fetchval(
            "INSERT INTO lottery_campaigns (alliance_id, code, draw_price_points, prize_table)"
            " VALUES ($1, 'SPRING', 10, $2::jsonb) RETURNING id", alliance_id,
            json.dumps(_PRIZES))
        await connection.execute(
            "INSERT INTO lottery_prize_stock VALUES ($1, 'WIN', 3)", campaign_id)

        async def loaded() -> tuple[object, ...]:
            gift = (await load_gifts(connection, "main"))[(alliance_id, "LAMP")]
            (campaign,) = await load_campaigns(connection, "main")
            return gift.stock, gift.active, campaign.stock

        assert await loaded() == (5, True, [3])   # nothing changed here: central's
        # The host gave a lamp and a prize, and withdrew the lamp; central does not know yet.
        await connection.execute(
            "INSERT INTO gift_stock VALUES ($1, 'LAMP', 'main', 4, false)", alliance_id)
        await connection.execute(
            "INSERT INTO prize_stock VALUES ($1, 'WIN', 'main', 2)", campaign_id)
        # Another partition's rows are not this host's.
        await connection.execute("INSERT INTO partitions (name, number) VALUES ('p2', 1)")
        await connection.execute(
            "INSERT INTO prize_stock VALUES ($1, 'WIN', 'p2', 0)", campaign_id)
        assert await connection.fetchval(
            "SELECT stock FROM gift_catalogue WHERE gift_code = 'LAMP'") == 5
        assert await loaded() == (4, False, [2])
    finally:
        await connection.close()
