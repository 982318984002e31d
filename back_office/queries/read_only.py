"""Every query of the back office runs in one READ ONLY transaction at REPEATABLE READ: a
write inside it fails (PostgreSQL refuses it, whatever the role may do), and a statement's
opening balance and its lines are read from one snapshot of the journal, which the host may be
writing meanwhile. The CLI connects as the audit role, which holds SELECT only (migration 006).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

# A query of the back office takes well under 100 ms on 10^7 postings (docs/performance.md,
# "Queries and statements"); fifty times that is a plan gone wrong, and it must not hold a
# snapshot (and back vacuum up) on the host's tables for longer.
STATEMENT_TIMEOUT_MS = 5_000


@asynccontextmanager
async def read_only(connection: asyncpg.Connection) -> AsyncIterator[None]:
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        await connection.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        yield
