"""The terminal listener: accepts connections within `connections_max` in total and
`connections_per_source_max` per source address; the rest are closed at once. Each connection
is a `TerminalConnection` protocol; what one of them must wait for (a sign-on, a reversal) runs
as a task of the listener's task group, so it ends with the listener.

A bug in any connection ends the listener, and with it the front, for its supervisor to restart
(an assertion is never logged and ignored): raised in a task of the listener, it propagates; met
in a connection's loop callback, it is handed to `fail`, and the listener's own task raises it.
A connection's legitimate ends (framing errors, timeouts, a peer that hangs up) close it alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus

from acquirer_front import metrics
from acquirer_front.config import FrontConfig
from acquirer_front.connection import TerminalConnection
from acquirer_front.limits import ConnectionLimits, RefusalReason, SampledLog
from acquirer_front.pipeline import Pipeline

log = structlog.get_logger("acquirer_front.server")


class _Listener:
    """Admission by the limits, the book of open connections, and their tasks."""

    def __init__(self, config: FrontConfig, pipeline: Pipeline, group: TaskGroup) -> None:
        self._config = config
        self._pipeline = pipeline
        self._group = group
        self._limits = ConnectionLimits(config.connections_max,
                                        config.connections_per_source_max)
        # One sampled log per reason, so that a flood of one kind does not hide the other.
        self._refusal_logs = {reason: SampledLog(log.warning, "connection_refused")
                              for reason in RefusalReason}
        self._sources: dict[TerminalConnection, str] = {}
        self.failure: Exception | None = None   # the first bug a connection's callback met
        self.failed = anyio.Event()

    def connection(self) -> TerminalConnection:
        return TerminalConnection(self._pipeline, self._config, self)

    def admit(self, connection: TerminalConnection, transport: asyncio.Transport) -> bool:
        """Count a new connection in; False (and the transport closed) when it is refused."""
        peername = transport.get_extra_info("peername")
        if not peername:
            # Reset before we took it (a scanner, a hostile peer): nothing to serve or log.
            transport.abort()
            return False
        source = str(peername[0])
        refusal = self._limits.admit(source)
        if refusal is not None:
            # Closing at once tells the terminal to retry later, and bounds what we hold.
            metrics.REFUSED_CONNECTIONS.labels(refusal).inc()
            self._refusal_logs[refusal](reason=refusal, source=source,
                                        open=self._limits.open_count,
                                        held_by_source=self._limits.held_by(source))
            transport.close()
            return False
        metrics.OPEN_CONNECTIONS.inc()
        self._sources[connection] = source
        return True

    def closed(self, connection: TerminalConnection) -> None:
        """An admitted connection's transport is gone."""
        self._limits.release(self._sources.pop(connection))
        metrics.OPEN_CONNECTIONS.dec()

    def spawn(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._group.start_soon(work)

    def fail(self, exc: Exception) -> None:
        """A bug met in a connection's loop callback: `serve_terminals` raises it."""
        if self.failure is None:
            self.failure = exc
            self.failed.set()

    def abort_all(self) -> None:
        for connection in list(self._sources):
            connection.abort()


async def serve_terminals(
    config: FrontConfig,
    pipeline: Pipeline,
    *,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Listen until cancelled or a bug; task_status gets the bound port (config.listen_port
    may be 0)."""
    loop = asyncio.get_running_loop()
    async with anyio.create_task_group() as group:
        listener = _Listener(config, pipeline, group)
        server = await loop.create_server(
            listener.connection, config.listen_host, config.listen_port,
            backlog=config.listen_backlog, reuse_address=True)
        bound_port = server.sockets[0].getsockname()[1]
        try:
            log.info("front_listening", host=config.listen_host, port=bound_port)
            task_status.started(bound_port)
            await listener.failed.wait()
            assert listener.failure is not None
            raise listener.failure
        finally:
            server.close()
            listener.abort_all()
