"""Following card_ranges: LISTEN (`proto.changes`) and re-read the table on a change of
card_ranges.

The LISTEN is issued before the first read, so no change falls between the two. While the
connection is lost the switch routes with the table it has, re-connects, and re-reads (a
notification may have been missed); a periodic re-read covers anything else.
"""

from __future__ import annotations

from typing import Any

import anyio
import asyncpg
import structlog
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from proto.changes import CHANNEL, Table, decode_change
from switch import metrics
from switch.config import SwitchConfig
from switch.errors import RouteLoadError
from switch.routes import CardRange, RouteBook, load_card_ranges

log = structlog.get_logger("switch.reload")

# Names the LISTEN connection in pg_stat_activity.
APPLICATION_NAME = "jifen-switch-routes"

_DATABASE_ERRORS = (
    asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError, RouteLoadError,
)


class FeedState:
    """Whether the LISTEN connection is open (False while it reconnects): the switch's
    `database` readiness and its jifen_switch_database_up gauge."""

    def __init__(self) -> None:
        self.connected = False


async def follow_card_ranges(
    database_url: str,
    config: SwitchConfig,
    book: RouteBook,
    *,
    feed: FeedState | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Install the ranges, report started, then keep the book current until cancelled. Failing
    to read them at start raises RouteLoadError: a switch without routes must not serve."""
    if feed is None:
        feed = FeedState()
    # One pending signal is enough: a reload reads everything, so signals coalesce.
    send, receive = anyio.create_memory_object_stream[str](1)
    connection: asyncpg.Connection | None
    try:
        connection, ranges = await _open(database_url, config, send)
    except _DATABASE_ERRORS as exc:
        raise RouteLoadError(f"cannot read card_ranges: {exc!r}") from exc
    _install(book, ranges)
    feed.connected = True
    task_status.started()
    while True:
        if connection is None:
            try:
                connection, ranges = await _open(database_url, config, send)
            except _DATABASE_ERRORS as exc:
                log.warning("card_ranges_reconnect_failed", error=repr(exc))
                await anyio.sleep(config.database_retry_interval_s)
                continue
            log.info("card_ranges_reconnected")
            _install(book, ranges)
            feed.connected = True
        try:
            await _follow(connection, config, book, receive)
        except _DATABASE_ERRORS as exc:
            log.warning("card_ranges_connection_lost", error=repr(exc))
            metrics.ROUTE_RELOADS.labels(outcome="failed").inc()
        finally:
            feed.connected = False
            connection.terminate()
        connection = None


async def _open(
    database_url: str, config: SwitchConfig, signals: MemoryObjectSendStream[str]
) -> tuple[asyncpg.Connection, list[CardRange]]:
    """Connect, LISTEN, then read (in that order, so that no change is missed)."""

    def on_notification(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
        change = decode_change(payload)
        if change is not None and change.table is Table.CARD_RANGES:
            _signal(signals, "changed")

    def on_termination(_connection: Any) -> None:
        _signal(signals, "lost")

    with anyio.fail_after(config.database_timeout_s):
        connection = await asyncpg.connect(
            database_url, timeout=config.database_timeout_s,
            server_settings={"application_name": APPLICATION_NAME})
    try:
        with anyio.fail_after(config.database_timeout_s):
            # The stubs type a payload as object; asyncpg hands the NOTIFY payload as a str.
            await connection.add_listener(CHANNEL, on_notification)  # type: ignore[arg-type]
        connection.add_termination_listener(on_termination)
        ranges = await load_card_ranges(connection, config.database_timeout_s)
    except BaseException:
        connection.terminate()
        raise
    return connection, ranges


async def _follow(
    connection: asyncpg.Connection,
    config: SwitchConfig,
    book: RouteBook,
    signals: MemoryObjectReceiveStream[str],
) -> None:
    """Re-read on every signal and every check interval; returns only by raising."""
    while True:
        with anyio.move_on_after(config.card_ranges_check_interval_s):
            await signals.receive()
        # A lost connection shows itself here: the read fails and the caller re-connects.
        _install(book, await load_card_ranges(connection, config.database_timeout_s))


def _signal(signals: MemoryObjectSendStream[str], reason: str) -> None:
    try:
        signals.send_nowait(reason)
    except anyio.WouldBlock:
        pass   # a reload is already due; it will read this change too


def _install(book: RouteBook, ranges: list[CardRange]) -> None:
    installed = book.update(ranges)
    metrics.ROUTE_RELOADS.labels(outcome="installed" if installed else "unchanged").inc()
    metrics.CARD_RANGES.set(len(ranges))
