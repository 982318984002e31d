"""`jifen up --partitions N`: each partition's database made ready before the services start.

For each partition but main, in order: its database migrated first when it has a schema (a
subscriber must have a column before its publisher sends it: `jifen db migrate`'s order; a
new one is migrated by `partition add`, whose copy must find nothing but its seed rows); after
central's migration and demo, the demo's second card range routed to it with cards of its own
(back_office/provisioning/demo_partitions.py); then `partition add` unless central lists it
ready (an interrupted add resumes).
"""

from __future__ import annotations

import anyio
import asyncpg
import msgspec

from back_office.data_migrations import data_steps
from back_office.partitions.add import add_partition
from back_office.provisioning.demo_partitions import split_demo_range
from database.connect import connect, resolve_database_url
from database.migrate import migrate
from database.partitions import read_partitions
from database.roles import Role
from runtime.config import Config

# A new partition's initial copy: the demo's 2,000 cards take a second or two.
COPY_TIMEOUT_S = 120.0


class PartitionUrls(msgspec.Struct, frozen=True):
    administrator: str
    replication: str


def partition_database_urls(config: Config) -> dict[str, PartitionUrls]:
    """Each partition's administrator and replication URLs (its embedded server started)."""
    return {name: PartitionUrls(resolve_database_url(database),
                                resolve_database_url(database, Role.REPLICATION))
            for name, database in config.partitions.items()}


async def migrate_added_partitions(config: Config, urls: dict[str, PartitionUrls],
                                   kek: bytes) -> None:
    """Migrate each partition's database that has a schema already, before central's."""
    timeout_s = config.database.connect_timeout_s
    for partition in urls.values():
        connection = await connect(partition.administrator, timeout_s)
        try:
            migrated = await connection.fetchval(
                "SELECT to_regclass('schema_migrations') IS NOT NULL")
        finally:
            await connection.close()
        if migrated:
            await migrate(partition.administrator, connect_timeout_s=timeout_s,
                          data_steps=data_steps(kek))


async def prepare_partitions(config: Config, central_url: str, back_office_url: str,
                             urls: dict[str, PartitionUrls], kek: bytes) -> list[str]:
    """Split the demo's cards and add each partition missing; what was done, for a person."""
    done: list[str] = []
    connection: asyncpg.Connection = await asyncpg.connect(
        back_office_url, timeout=config.database.connect_timeout_s)
    try:
        for name in urls:
            split = await split_demo_range(connection, name, kek=kek)
            if split is not None:
                done.append(split.describe())
    finally:
        await connection.close()
    central_replication_url = await anyio.to_thread.run_sync(
        resolve_database_url, config.database, Role.REPLICATION)
    ready = {partition.name for partition in await read_partitions(
        central_url, config.database.connect_timeout_s) if partition.state == "ready"}
    for name, partition in urls.items():
        if name in ready:
            continue
        added = await add_partition(
            name, central_url, partition.administrator,
            {"central": central_replication_url, "partition": partition.replication},
            COPY_TIMEOUT_S)
        done.append(f"partition {name} ready: number {added.number}, RRNs "
                    f"{added.first_rrn}-{added.last_rrn}")
    return done
