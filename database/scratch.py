"""Scratch databases for benchmarks, crash runs and synthetic journals: dropped and created
anew, migrated, each run starting from an empty schema on a server of its own."""

from __future__ import annotations

from database.connect import connect, with_database
from database.migrate import migrate

# Dropping (with FORCE) and creating a database: well under a second on a local server.
_ADMIN_TIMEOUT_S = 30.0


async def fresh_database(server_url: str, name: str) -> str:
    """The URL of database `name` on the server of `server_url`, dropped if it existed (its
    connections are ended), created and migrated."""
    admin = await connect(server_url, _ADMIN_TIMEOUT_S)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                            timeout=_ADMIN_TIMEOUT_S)
        await admin.execute(f'CREATE DATABASE "{name}"', timeout=_ADMIN_TIMEOUT_S)
    finally:
        await admin.close()
    url = with_database(server_url, name)
    await migrate(url)
    return url
