"""Tell running services that reference data changed: they LISTEN on CHANGES_CHANNEL and reload.

Sent inside the caller's transaction, so it is delivered only if the change commits.
"""

from __future__ import annotations

import asyncpg

CHANGES_CHANNEL = "jifen_changes"
TABLES = frozenset({"alliances", "merchants", "terminals", "cards", "card_ranges"})


async def notify_change(conn: asyncpg.Connection, table: str) -> None:
    assert table in TABLES, table
    await conn.execute("SELECT pg_notify($1, $2)", CHANGES_CHANNEL, table)
