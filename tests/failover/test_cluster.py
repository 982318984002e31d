"""The local fail-over cluster (database/cluster.py): synchronous replication is on, a standby
refuses writes, and a kill -9 of the primary's postmaster promotes the standby with every
committed row, reachable through the same multi-host URL."""

from __future__ import annotations

import time
import uuid

import anyio
import asyncpg
import pytest

from account_host.config import HostConfig
from account_host.database import WriterDatabase
from account_host.errors import HostDatabaseError
from database.cluster import LocalCluster
from tests.pki_kit import tls_fields

# The first test here may start the cluster (10 s here; initdb and a base backup on a loaded
# box take longer) and later ones wait for the old primary to rejoin as standby (5-8 s).
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

CONNECT_TIMEOUT_S = 10.0


async def fetch_values(url: str, query: str) -> list[object]:
    connection = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
    try:
        return [row[0] for row in await connection.fetch(query)]
    finally:
        await connection.close()


async def test_commits_wait_for_a_synchronous_standby(ready_cluster: LocalCluster):
    primary = ready_cluster.primary()
    (standby,) = [node for node in ready_cluster.nodes if node != primary]
    settings = await fetch_values(ready_cluster.dsn(), """
        SELECT current_setting('synchronous_commit') || ' ' ||
               current_setting('synchronous_standby_names')
        UNION ALL SELECT sync_state FROM pg_stat_replication""")
    assert settings == [f"on {standby.name}", "sync"]
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await fetch_values(ready_cluster.node_dsn(standby), "CREATE TABLE refused (n int)")


async def test_synchronous_mode_off_and_on_again(ready_cluster: LocalCluster):
    """As loadtest.sync_cost turns it, through Patroni's dynamic configuration."""
    names = "SELECT current_setting('synchronous_standby_names')"
    try:
        await anyio.to_thread.run_sync(ready_cluster.set_synchronous, False)
        assert await fetch_values(ready_cluster.dsn(), names) == [""]
    finally:
        await anyio.to_thread.run_sync(ready_cluster.set_synchronous, True)
    assert await fetch_values(ready_cluster.dsn(), names) != [""]


async def test_a_killed_primary_fails_over_with_its_commits(ready_cluster: LocalCluster):
    url = ready_cluster.dsn()
    table = f"marks_{uuid.uuid4().hex[:8]}"
    await fetch_values(url, f"CREATE TABLE {table} AS SELECT 1 AS n")
    old = ready_cluster.primary()
    started = time.monotonic()
    ready_cluster.kill_postmaster(old)
    new = ready_cluster.wait_for_new_primary(old)
    print(f"\nstandby {new.name} promoted {time.monotonic() - started:.1f} s after the kill")
    assert new != old
    assert await fetch_values(url, f"SELECT n FROM {table}") == [1]
    await fetch_values(url, f"INSERT INTO {table} VALUES (2)")
    assert await fetch_values(ready_cluster.node_dsn(new), f"SELECT n FROM {table}") == [1, 2]


async def test_the_host_writer_never_opens_on_a_standby(ready_cluster: LocalCluster):
    """Whatever its URL says, the writer asks for a read-write session: a URL that names only
    the standby gets no connection, one that names both gets the primary."""
    primary = ready_cluster.primary()
    (standby,) = [node for node in ready_cluster.nodes if node != primary]
    config = HostConfig(listen_port=0, metrics_port=0, **tls_fields("host"))
    with pytest.raises(HostDatabaseError, match="TargetServerAttributeNotMatched"):
        await WriterDatabase(ready_cluster.node_dsn(standby), config).open()
    both = ready_cluster.dsn().partition("?")[0]  # no target_session_attrs of its own
    writer = WriterDatabase(both, config)
    connection = await writer.open()
    try:
        assert await connection.fetchval("SELECT pg_is_in_recovery()") is False
    finally:
        writer.close()
