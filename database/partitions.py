"""Where each partition's database is (docs/plans/partitions.md §1, "Reaching partitions").

What partitions exist is central's `partitions` table; how to reach one is configuration: a
`[partitions.<name>]` section, which is a `[database]` section of its own (a `url`, or an
embedded server's `data_dir`, and the services' URLs and password files). The partition
numbered 0 is central itself and has no section: its database is `[database]`.

`partition_urls` resolves each as `resolve_database_url` does per role, so a service, a
migrator or the back office reaches every partition with its own login. A partition in the
table without a section is refused, not skipped: a clearing or an audit that left one out
would be wrong without saying so. A section whose partition is not (yet) in the table is left
out: `jifen partition add` reads it before it inserts the row.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import anyio
import asyncpg
import msgspec
from anyio import to_thread

from database.config import DatabaseConfig
from database.connect import connect, redact_url, resolve_database_url
from database.errors import PartitionError
from database.roles import Role

# The partition whose database is central (migration 029: the first host's).
CENTRAL_NUMBER = 0
_PARTITIONS_SQL = "SELECT name, number, state FROM partitions ORDER BY number"


class Partition(msgspec.Struct, frozen=True):
    name: str
    number: int
    state: str  # 'adding' or 'ready' (migration 029)


async def read_partitions(central_url: str, timeout_s: float) -> list[Partition]:
    """Central's partitions, by number; [] on a database migrated before 029 (no table)."""
    connection = await connect(central_url, timeout_s)
    try:
        with anyio.fail_after(timeout_s):
            rows = await connection.fetch(_PARTITIONS_SQL)
    except asyncpg.UndefinedTableError:
        return []
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise PartitionError(
            f"cannot read the partitions of {redact_url(central_url)}: {exc}") from exc
    finally:
        await connection.close()
    return [Partition(row["name"], row["number"], row["state"]) for row in rows]


def partition_databases(
    partitions: Sequence[Partition], central: DatabaseConfig,
    configured: Mapping[str, DatabaseConfig],
) -> dict[str, DatabaseConfig]:
    """Name -> the database configuration of each partition in the table, central's for the
    partition numbered 0; refused: a partition without its section, and a section for central's
    partition (two configurations of one database)."""
    databases: dict[str, DatabaseConfig] = {}
    missing = []
    for partition in partitions:
        if partition.number == CENTRAL_NUMBER:
            if partition.name in configured:
                raise PartitionError(
                    f"[partitions.{partition.name}] configures partition {partition.name},"
                    " which is the central database ([database]): remove the section")
            databases[partition.name] = central
        elif partition.name in configured:
            database = configured[partition.name]
            if _same_database(database, central):
                raise PartitionError(
                    f"[partitions.{partition.name}] names the central database ([database]):"
                    " a partition's database is another server's (its own url or data_dir)")
            databases[partition.name] = database
        else:
            missing.append(partition.name)
    if missing:
        raise PartitionError(
            f"partition{'s' if len(missing) > 1 else ''} {', '.join(missing)} in the central"
            " database's partitions table but not in the configuration: add a"
            f" [partitions.{missing[0]}] section with its database's url or data_dir"
            " (docs/operations.md, \"Partitions\")")
    return databases


def _same_database(one: DatabaseConfig, other: DatabaseConfig) -> bool:
    """Whether two sections name one database: the same URL, or the same embedded server."""
    if one.url is not None or other.url is not None:
        return one.url == other.url
    return os.path.abspath(one.data_dir) == os.path.abspath(other.data_dir)


async def partition_urls(
    central: DatabaseConfig, configured: Mapping[str, DatabaseConfig], role: Role | None,
) -> dict[str, str]:
    """Name -> the URL of each partition's database for `role` (the administrator's when
    None), as `resolve_database_url` gives it (an embedded server is started if need be);
    refusals as `partition_databases`. The table is read on central with the same role."""
    central_url = await to_thread.run_sync(resolve_database_url, central, role)
    partitions = await read_partitions(central_url, central.connect_timeout_s)
    databases = partition_databases(partitions, central, configured)
    urls = {}
    for name, database in databases.items():
        urls[name] = (central_url if database is central else
                      await to_thread.run_sync(resolve_database_url, database, role))
    return urls


async def other_partition_urls(
    connection: asyncpg.Connection, central: DatabaseConfig,
    configured: Mapping[str, DatabaseConfig], role: Role | None,
) -> dict[str, str]:
    """Name -> URL for `role` of every partition but central's, in number order, reading the
    table on `connection` (central's, already open: no partition, no other connection);
    refusals as `partition_databases`."""
    rows = await connection.fetch(_PARTITIONS_SQL)
    partitions = [Partition(row["name"], row["number"], row["state"]) for row in rows]
    databases = partition_databases(partitions, central, configured)
    return {partition.name: await to_thread.run_sync(resolve_database_url,
                                                     databases[partition.name], role)
            for partition in partitions if partition.number != CENTRAL_NUMBER}
