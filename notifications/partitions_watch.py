"""Which partitions the sender serves: those of central's partitions table at its start. A
partition added later (`jifen partition add`) would have its members' events wait unseen; so
the table is read again every so often, and a change ends the sender with PartitionsChanged,
for its supervisor (`jifen up`, systemd) to start it again with every partition's URL."""

from __future__ import annotations

from collections.abc import Set

import anyio
import asyncpg
import structlog

from database.connect import connect
from database.errors import DatabaseUnavailableError
from notifications.errors import PartitionsChanged

log = structlog.get_logger("notifications.partitions_watch")

# How often central's partitions table is read: a partition is added once in months, and its
# first events wait at most this long before the restart reads them.
PARTITIONS_CHECK_S = 60.0
# One read of the table: a connection and a query on a few rows.
CHECK_TIMEOUT_S = 10.0
_NAMES_SQL = "SELECT name FROM partitions"


async def watch_partitions(central_url: str, served: Set[str]) -> None:
    """Forever, every PARTITIONS_CHECK_S; raises PartitionsChanged when central's table names
    other partitions than `served`. A central out of reach is left to the senders (they log
    it and back off): the watch tries again at its next turn."""
    while True:
        await anyio.sleep(PARTITIONS_CHECK_S)
        try:
            with anyio.fail_after(CHECK_TIMEOUT_S):
                connection = await connect(central_url, CHECK_TIMEOUT_S)
                try:
                    names = {row["name"] for row in await connection.fetch(_NAMES_SQL)}
                finally:
                    with anyio.CancelScope(shield=True):
                        await connection.close(timeout=CHECK_TIMEOUT_S)
        except asyncpg.UndefinedTableError:   # before migration 029: central alone
            continue
        except (DatabaseUnavailableError, asyncpg.PostgresError, asyncpg.InterfaceError,
                OSError, TimeoutError) as exc:
            log.info("notify_partitions_unread", error=str(exc) or type(exc).__name__)
            continue
        if names and names != served:
            log.warning("notify_partitions_changed", served=sorted(served), listed=sorted(names))
            raise PartitionsChanged(
                f"central's partitions are now {', '.join(sorted(names))}, the sender serves"
                f" {', '.join(sorted(served))}: it stops, for its supervisor to start it again"
                " with every partition's database")
