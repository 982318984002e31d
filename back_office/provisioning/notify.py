"""Tell running services that reference data changed (`proto.changes`): they LISTEN and reload.

Sent inside the caller's transaction, so it is delivered only if the change commits.
"""

from __future__ import annotations

import asyncpg

from proto.changes import CHANNEL, NOTIFY_SQL, Change, encode_change


async def notify_change(conn: asyncpg.Connection, change: Change) -> None:
    await conn.execute(NOTIFY_SQL, CHANNEL, encode_change(change))
