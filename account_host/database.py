"""The writer's PostgreSQL connection: opening it (fencing off any earlier writer of this host),
and committing a batch statement.

Always the primary: every connection of the host asks for a read-write session
(target_session_attrs), whatever the URL says. A URL naming the primary and its standbys
(`postgresql://u@db1:5432,db2:5432/jifen`) then reaches whichever is primary now, after a
fail-over too; a standby is never written to, and the state is never loaded from one that lags.

Single writer: every writer connection carries the application name of its host, and a new one
terminates any other connection with that name and waits until it is gone before the state is
loaded. So a restarted host (or a writer that reconnected after a timeout) never reads the state
while an older connection could still commit a batch behind its back.
"""

from __future__ import annotations

import time as clock

import anyio
import asyncpg
import structlog

from account_host.config import HostConfig
from account_host.errors import CommitError, HostDatabaseError
from account_host.journal import BATCH_SQL, BatchArguments, BatchWrite

log = structlog.get_logger("account_host.database")

# What asyncpg raises when the server, the network or the connection's own state machine fails
# (InternalClientError: e.g. a backend terminated while the connection was idle).
DATABASE_ERRORS = (
    asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError,
    TimeoutError,
)
# What the host's connections insist on: the primary, never a standby in recovery.
TARGET_SESSION_ATTRS = asyncpg.connect_utils.SessionAttribute.read_write
# How often the fence looks whether the terminated writers are gone (they exit in milliseconds).
_FENCE_POLL_S = 0.01

_BATCH_LANDED_SQL = """
SELECT count(*) FROM host_requests
WHERE terminal_code = $1 AND mti = $2 AND stan = $3 AND transmission_time = $4
  AND content_digest = $5 AND received_at = $6
"""
# A batch of back-office commands alone: its first command's outcome, at the batch's instant
# (the host's own row: host_commands is the back office's, folded from it).
_COMMANDS_LANDED_SQL = """
SELECT count(*) FROM command_outcomes WHERE command_id = $1 AND done_at = $2
"""
# Only writers of this database: another database on the same server (a test's, another
# installation's) has writers of its own, with the same host name.
_TERMINATE_OTHERS_SQL = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = $1 AND pid <> pg_backend_pid() AND datname = current_database()
"""
_OTHERS_LEFT_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE application_name = $1 AND pid <> pg_backend_pid() AND datname = current_database()
"""


def writer_application_name(host_name: str) -> str:
    return f"jifen-host-writer:{host_name}"[:63]


async def connect(database_url: str, application_name: str, timeout_s: float) -> asyncpg.Connection:
    try:
        with anyio.fail_after(timeout_s):
            return await asyncpg.connect(
                database_url, timeout=timeout_s, target_session_attrs=TARGET_SESSION_ATTRS,
                server_settings={"application_name": application_name})
    except DATABASE_ERRORS as exc:
        raise HostDatabaseError(f"connecting to PostgreSQL failed: {exc!r}") from exc


class WriterDatabase:
    """The one connection the writer commits on."""

    def __init__(self, database_url: str, config: HostConfig) -> None:
        self._database_url = database_url
        self._config = config
        self._application_name = writer_application_name(config.name)
        self.connection: asyncpg.Connection | None = None

    @property
    def is_open(self) -> bool:
        return self.connection is not None and not self.connection.is_closed()

    async def open(self) -> asyncpg.Connection:
        """A fresh connection, after every other writer of this host has gone."""
        self.close()
        connection = await connect(self._database_url, self._application_name,
                                   self._config.connect_timeout_s)
        try:
            with anyio.fail_after(self._config.connect_timeout_s):
                fenced = await connection.fetchval(_TERMINATE_OTHERS_SQL, self._application_name)
                while await connection.fetchval(_OTHERS_LEFT_SQL, self._application_name):
                    await anyio.sleep(_FENCE_POLL_S)
        except DATABASE_ERRORS as exc:
            connection.terminate()
            raise HostDatabaseError(f"fencing earlier writers failed: {exc!r}") from exc
        if fenced:
            log.warning("earlier_writer_terminated", connections=fenced)
        self.connection = connection
        return connection

    async def commit(self, batch: BatchWrite, arguments: BatchArguments) -> float:
        """Write the batch in one statement (`arguments`: its `BatchWrite.arguments`, taken
        when it was applied); returns its latency in seconds. CommitError: it may or may not
        have landed. An AssertionError: it committed, but not the rows the batch holds; the
        writer does not catch it (the host ends, and rebuilds from what is durable)."""
        assert self.connection is not None
        started = clock.perf_counter()
        try:
            with anyio.fail_after(self._config.commit_timeout_s):
                row = await self.connection.fetchrow(BATCH_SQL, *arguments)
        except DATABASE_ERRORS as exc:
            raise CommitError(f"batch commit failed: {exc!r}") from exc
        assert row is not None, "the batch statement returns its row counts"
        counts, expected = tuple(row), batch.expected_counts()
        assert counts == expected, f"the batch statement lost rows: {counts}, not {expected}"
        return clock.perf_counter() - started

    def close(self) -> None:
        """Drop the connection at once (it may be dead, or mid-statement after a timeout)."""
        if self.connection is not None:
            self.connection.terminate()
            self.connection = None


async def batch_landed(connection: asyncpg.Connection, batch: BatchWrite, timeout_s: float) -> bool:
    """Whether a batch whose commit failed was committed after all. Only meaningful once the
    connection that sent it is fenced off: then its outcome can no longer change."""
    try:
        with anyio.fail_after(timeout_s):
            marker = batch.marker()
            sql = _COMMANDS_LANDED_SQL if len(marker) == 2 else _BATCH_LANDED_SQL
            return bool(await connection.fetchval(sql, *marker))
    except DATABASE_ERRORS as exc:
        raise HostDatabaseError(f"checking a failed batch failed: {exc!r}") from exc
