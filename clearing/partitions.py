"""The partitions a clearing reads (docs/plans/partitions.md §2): central's own journal, on the
caller's connection, and each other partition's, on a connection of its own as jifen_clearing.

What partitions exist is central's `partitions` table, read on the caller's connection; how to
reach one is its `[partitions.<name>]` section (`database/partitions.py`). A partition in the
table that is not configured, or that cannot be reached, refuses the whole command: a clearing
that left a partition out would be wrong without saying so, so there is no partial clearing.
With only central in the table (no partitions) nothing more is opened: one query on the
caller's connection is all this costs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import asyncpg
import msgspec
from anyio import to_thread

from clearing.errors import PartitionUnreachableError
from database.config import DatabaseConfig
from database.connect import connect, resolve_database_url
from database.errors import DatabaseError, PartitionError
from database.partitions import CENTRAL_NUMBER, Partition, partition_databases
from database.roles import Role

_PARTITIONS_SQL = "SELECT name, number, state FROM partitions ORDER BY number"
# Closing a partition's connection: a moment; a server that does not answer is let go.
CLOSE_TIMEOUT_S = 5.0


class PartitionSetup(msgspec.Struct, frozen=True):
    """The configuration clearing reaches partitions with: central's `[database]` and the
    `[partitions.<name>]` sections (the CLI hands them over: clearing cannot read the file)."""

    central: DatabaseConfig
    configured: dict[str, DatabaseConfig]


class ClearingPartitions(msgspec.Struct, frozen=True):
    """Central's partition (read on the caller's connection) and every other one's URL."""

    central: str
    others: dict[str, str]           # name -> URL as jifen_clearing, in number order
    connect_timeout_s: float

    @property
    def names(self) -> list[str]:
        """Every partition read, central's first: what a run records."""
        return [self.central, *self.others]


async def find_partitions(
    conn: asyncpg.Connection, setup: PartitionSetup | None,
) -> ClearingPartitions:
    """The partitions of central's table, each resolved to its URL; None: no section is
    configured, so any partition but central's is refused."""
    rows = await conn.fetch(_PARTITIONS_SQL)
    partitions = [Partition(row["name"], row["number"], row["state"]) for row in rows]
    central_config = setup.central if setup is not None else DatabaseConfig()
    try:
        databases = partition_databases(partitions, central_config,
                                        setup.configured if setup is not None else {})
    except PartitionError as exc:
        raise PartitionUnreachableError(f"{exc}; nothing was cleared") from exc
    central = next((p.name for p in partitions if p.number == CENTRAL_NUMBER), None)
    assert central is not None, "migration 029 gives central's partition number 0"
    others: dict[str, str] = {}
    for partition in partitions:
        if partition.number == CENTRAL_NUMBER:
            continue
        try:
            others[partition.name] = await to_thread.run_sync(
                resolve_database_url, databases[partition.name], Role.CLEARING)
        except DatabaseError as exc:
            raise _unreachable(partition.name, exc) from exc
    return ClearingPartitions(central, others, central_config.connect_timeout_s)


@asynccontextmanager
async def partition_connections(
    partitions: ClearingPartitions,
) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    """A connection to each partition but central, all opened before anything is read or
    locked, and closed at the end; the first that cannot be opened refuses the command."""
    async with AsyncExitStack() as stack:
        connections: dict[str, asyncpg.Connection] = {}
        for name, url in partitions.others.items():
            try:
                connection = await connect(url, partitions.connect_timeout_s)
            except DatabaseError as exc:
                raise _unreachable(name, exc) from exc
            stack.push_async_callback(_close, connection)
            connections[name] = connection
        yield connections


async def _close(connection: asyncpg.Connection) -> None:
    with anyio.CancelScope(shield=True):
        await connection.close(timeout=CLOSE_TIMEOUT_S)


def _unreachable(name: str, exc: Exception) -> PartitionUnreachableError:
    return PartitionUnreachableError(
        f"partition {name} cannot be reached ({exc}): clearing reads every partition, so "
        f"nothing was sealed or cleared; try again once it answers")


def unreadable(name: str, exc: BaseException, doing: str = "read") -> PartitionUnreachableError:
    """A partition lost or refusing in the middle of a read or a lock: the same refusal,
    nothing written."""
    return PartitionUnreachableError(
        f"partition {name} could not be {doing} ({exc or type(exc).__name__}): clearing "
        f"reads every partition, so nothing was sealed or cleared; try again once it answers")
