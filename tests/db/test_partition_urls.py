"""database/partitions.py: which database each partition is, from central's table and the
`[partitions.<name>]` sections; the refusals that keep a fan-out from leaving one out. And the
payloads of migration 031's notify triggers, which a partition's host decodes."""

from __future__ import annotations

import asyncpg
import pytest

from database.config import DatabaseConfig
from database.errors import PartitionError
from database.partitions import Partition, partition_databases, partition_urls
from database.replication import check_logical
from proto.changes import Table, decode_change

CENTRAL = DatabaseConfig(data_dir="var/pg")
P2 = DatabaseConfig(url="postgresql://jifen@db-p2:5432/jifen")
P3 = DatabaseConfig(data_dir="var/pg-p3")
MAIN = Partition("main", 0, "ready")


class TestPartitionDatabases:
    def test_central_is_the_partition_numbered_zero(self) -> None:
        databases = partition_databases([MAIN, Partition("p2", 1, "ready")], CENTRAL,
                                        {"p2": P2, "p3": P3})
        assert databases == {"main": CENTRAL, "p2": P2}   # p3: configured, not added yet

    def test_a_partition_in_the_table_without_its_section_is_refused(self) -> None:
        table = [MAIN, Partition("p2", 1, "ready"), Partition("p3", 2, "adding")]
        with pytest.raises(PartitionError, match=r"partitions p2, p3 .* \[partitions.p2\]"):
            partition_databases(table, CENTRAL, {})
        with pytest.raises(PartitionError, match="partition p3 in the central"):
            partition_databases(table, CENTRAL, {"p2": P2})

    def test_a_section_for_central_is_refused(self) -> None:
        with pytest.raises(PartitionError, match="is the central database"):
            partition_databases([MAIN], CENTRAL, {"main": P3})

    @pytest.mark.parametrize("section", [DatabaseConfig(data_dir="var/pg"),
                                         DatabaseConfig(data_dir="./var/pg")])
    def test_a_partition_on_central_s_database_is_refused(self, section) -> None:
        with pytest.raises(PartitionError, match="names the central database"):
            partition_databases([MAIN, Partition("p2", 1, "ready")], CENTRAL, {"p2": section})

    def test_the_same_url_is_the_same_database(self) -> None:
        central = DatabaseConfig(url=P2.url)
        with pytest.raises(PartitionError, match="names the central database"):
            partition_databases([MAIN, Partition("p2", 1, "ready")], central, {"p2": P2})


@pytest.mark.anyio
async def test_urls_of_a_single_partition_system_are_central_s(database_url) -> None:
    central = DatabaseConfig(url=database_url)
    assert await partition_urls(central, {}, None) == {"main": database_url}


@pytest.mark.anyio
async def test_urls_refuse_an_unconfigured_partition(database_url) -> None:
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        await connection.execute("INSERT INTO partitions (name, number) VALUES ('p2', 1)")
    finally:
        await connection.close()
    with pytest.raises(PartitionError, match=r"\[partitions.p2\]"):
        await partition_urls(DatabaseConfig(url=database_url), {}, None)


@pytest.mark.anyio
async def test_the_notify_triggers_announce_proto_changes(database_url) -> None:
    """Each replicated table's trigger names a change the host knows (proto/changes.py), and
    every table the host reloads on a change is announced by some table."""
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT tgrelid::regclass::text AS name, tgargs, tgenabled FROM pg_trigger"
            " WHERE tgname = 'jifen_replicated_change'")
    finally:
        await connection.close()
    announced = set()
    for row in rows:
        assert row["tgenabled"] == b"D", "off until `partition add` enables it in a partition"
        if row["name"] == "members":   # its cards, by id (jifen_replicated_member_change)
            continue
        payload = row["tgargs"].rstrip(b"\0").decode()
        change = decode_change(payload if payload != "cards" else "cards:1")
        assert change is not None, row["name"]
        announced.add(change.table)
    assert announced == set(Table)


class _Server:
    """A connection's stand-in that answers SHOW wal_level."""

    def __init__(self, wal_level: str) -> None:
        self.wal_level = wal_level

    async def fetchval(self, sql: str) -> str:
        assert sql == "SHOW wal_level"
        return self.wal_level


@pytest.mark.anyio
async def test_a_server_without_logical_wal_is_refused_with_how_to_fix_it() -> None:
    await check_logical(_Server("logical"), "p2")   # type: ignore[arg-type]
    with pytest.raises(PartitionError, match=r"p2's server has wal_level = replica.*restart"):
        await check_logical(_Server("replica"), "p2")   # type: ignore[arg-type]
