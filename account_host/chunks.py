"""A cursor's rows a chunk at a time, the next chunk asked for before this one is handed over:
PostgreSQL runs the query on while the host files the rows it has. Every bulk read of the
load uses it (cards, remembered requests, the ledger's windows), so that at most two chunks
are held at once, never a whole table's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import asyncpg


async def chunks_ahead(
    cursor: asyncpg.cursor.Cursor[asyncpg.Record], rows: int,
) -> AsyncGenerator[list[asyncpg.Record], None]:
    """The cursor's chunks of `rows` rows (without the fetch ahead, the host waited for the
    server about a quarter of a load: docs/performance.md, "Balances, lots and counters in
    columns"). Close it with contextlib.aclosing: an error in the caller ends the fetch in
    flight first, so that the connection is usable again."""
    assert rows > 0
    ahead = asyncio.ensure_future(cursor.fetch(rows))
    try:
        while chunk := await ahead:
            ahead = asyncio.ensure_future(cursor.fetch(rows))
            await asyncio.sleep(0)   # the FETCH goes out now, not at the caller's next await
            yield chunk
    finally:
        if not ahead.done():   # the caller stopped early (an error): the fetch ends first
            with contextlib.suppress(Exception):
                await ahead
