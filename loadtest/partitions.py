"""A `--start` run over several partitions (`jifen loadtest --partitions 2`): each partition
but main on an embedded server of its own, as on its own machine, made ready with
`partition add` after the fleet's cards are issued on central (the initial copy carries them).

Every run starts from empty databases (`database.scratch.fresh_database`, as a one-partition
run). A database that a subscription reads, or that holds one, cannot simply be dropped: the
servers' subscriptions and logical slots of an earlier run are removed first.
"""

from __future__ import annotations

import anyio
import asyncpg
import msgspec

from back_office.partitions.add import add_partition
from database.connect import APPLICATION_DATABASE, connect, with_database
from database.embedded import EmbeddedPostgres
from database.errors import DatabaseError
from database.roles import Role
from database.scratch import fresh_database
from loadtest.errors import SetupError

# Each partition's share of the fleet's cards is under its own BIN (loadtest/provision.py).
PARTITION_NAMES = ("main", "p2")
# The initial copy of a few thousand cards takes a second; a stuck copy is a failed setup.
COPY_TIMEOUT_S = 120.0
# Dropping an earlier run's subscriptions and slots: milliseconds on a local server.
RESET_TIMEOUT_S = 30.0


class PartitionDatabase(msgspec.Struct, frozen=True):
    name: str
    url: str               # the administrator's, of APPLICATION_DATABASE
    replication_url: str   # the replication login's, which the other side subscribes with


def partition_data_dir(central_data_dir: str, name: str) -> str:
    return f"{central_data_dir}-{name}"


async def _drop_replication(server_url: str) -> None:
    """An earlier run's subscriptions (in the application database) and logical slots."""
    admin = await connect(server_url, RESET_TIMEOUT_S)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1",
                                      APPLICATION_DATABASE)
        if exists:
            database = await connect(with_database(server_url, APPLICATION_DATABASE),
                                     RESET_TIMEOUT_S)
            try:
                for (name,) in await database.fetch(
                        "SELECT subname FROM pg_subscription s JOIN pg_database d"
                        " ON d.oid = s.subdbid WHERE d.datname = current_database()"):
                    await database.execute(f'ALTER SUBSCRIPTION "{name}" DISABLE')
                    await database.execute(f'ALTER SUBSCRIPTION "{name}" SET (slot_name = NONE)')
                    await database.execute(f'DROP SUBSCRIPTION "{name}"')
            finally:
                await database.close()
        await admin.execute("SELECT pg_drop_replication_slot(slot_name)"
                            " FROM pg_replication_slots WHERE slot_type = 'logical'"
                            " AND NOT active")
    finally:
        await admin.close()


def fresh_servers(central: EmbeddedPostgres,
                  others: dict[str, EmbeddedPostgres]) -> list[PartitionDatabase]:
    """Empty, migrated databases on every server (started if need be): central first."""
    servers = {"main": central, **others}
    urls = {name: server.ensure_running() for name, server in servers.items()}
    for url in urls.values():
        anyio.run(_drop_replication, url, backend="asyncio")
    databases = []
    for name, server in servers.items():
        url = anyio.run(fresh_database, urls[name], APPLICATION_DATABASE, backend="asyncio")
        replication_url = server.ensure_login(Role.REPLICATION, APPLICATION_DATABASE)
        databases.append(PartitionDatabase(name, url, replication_url))
    return databases


async def add_partitions(partitions: list[PartitionDatabase]) -> None:
    """`partition add` for every partition but main (the first, central)."""
    central, *others = partitions
    for partition in others:
        try:
            await add_partition(partition.name, central.url, partition.url,
                                {"central": central.replication_url,
                                 "partition": partition.replication_url}, COPY_TIMEOUT_S)
        except (DatabaseError, asyncpg.PostgresError, OSError) as exc:
            raise SetupError(f"adding partition {partition.name} failed: {exc}") from exc
