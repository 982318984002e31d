"""Fixtures of the account host's tests."""

from __future__ import annotations

import asyncpg
import pytest

from tests.account_host.host_harness import (
    BLOCKED_CARD,
    CARDS,
    EXPIRED_CARD,
    LOST_CARD,
    OTHER_RANGE_CARD,
    SEED_SQL,
    STOLEN_CARD,
    insert_cards,
)


@pytest.fixture
async def seeded_url(database_url: str) -> str:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(SEED_SQL)
        await insert_cards(connection, [
            *((pan, "active", "2099-12-31") for pan in CARDS),
            (LOST_CARD, "lost", "2099-12-31"), (STOLEN_CARD, "stolen", "2099-12-31"),
            (BLOCKED_CARD, "blocked", "2099-12-31"), (EXPIRED_CARD, "active", "2020-01-31"),
            (OTHER_RANGE_CARD, "active", "2099-12-31"),
        ])
    finally:
        await connection.close()
    return database_url

