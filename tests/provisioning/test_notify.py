"""Every change NOTIFYs jifen_changes with its table, so running services reload."""

from __future__ import annotations

import anyio
import asyncpg
import pytest

from back_office.provisioning import (
    add_card_range,
    create_alliance,
    create_merchant,
    create_terminal,
    issue_cards,
    set_merchant_active,
)
from proto.changes import CHANNEL

pytestmark = pytest.mark.anyio

NOTIFY_TIMEOUT_S = 5.0


async def test_each_change_names_its_table(database_url: str) -> None:
    payloads: list[str] = []
    expected = ["alliances", "merchants", "merchants", "terminals", "card_ranges", "cards"]
    all_arrived = anyio.Event()

    def received(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        payloads.append(payload)
        if len(payloads) == len(expected):
            all_arrived.set()

    listener = await asyncpg.connect(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await listener.add_listener(CHANNEL, received)
        await create_alliance(conn, "TEA", "Tea Street")
        await create_merchant(conn, "TEA", "TEA000000000001", "Tea House")
        await set_merchant_active(conn, "TEA000000000001", False)
        await create_terminal(conn, "TEA00001", "TEA000000000001",
                              bytes.fromhex("00112233445566778899AABBCCDDEEFF"))
        await add_card_range(conn, "622188", "622188")
        await issue_cards(conn, "TEA", "622188", 10)
        with anyio.fail_after(NOTIFY_TIMEOUT_S):
            await all_arrived.wait()
    finally:
        await conn.close()
        await listener.close()
    assert payloads == expected
