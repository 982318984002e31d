"""The terminal listener: accepts connections within `connections_max` in total and
`connections_per_source_max` per source address; the rest are closed at once. Each connection
is a `TerminalConnection` protocol; what one of them must wait for (a sign-on, a reversal) runs
as a task of the listener's task group, so it ends with the listener.

With `bridge_listen` set, a second port serves dial-up bridges on other machines: mutual TLS
(`proto.tls`, the links' handshake timeout), and a client whose verified certificate names no
allowed bridge (`bridge_peer_names`) is closed before it is counted in. Past that gate its
connections are the same `TerminalConnection`s, in the same book and within the same limits.

A bug in any connection ends the listener, and with it the front, for its supervisor to restart
(an assertion is never logged and ignored): raised in a task of the listener, it propagates; met
in a connection's loop callback, it is handed to `fail`, and the listener's own task raises it.
A connection's legitimate ends (framing errors, timeouts, a peer that hangs up) close it alone.

A drain (`proto.drain`, the front is stopping): the listeners close, so new connections are
refused, and each open connection drains (`connection.py`): it is closed right after the answer
that leaves it with nothing in flight. After `drain_idle_wait_s` the connections stop reading,
and close once what they read is answered. The listener ends when no connection is open, no
work it spawned (a sign-on, a request waiting for the switch, a reversal being stored) runs and
nothing waits on the switch link, or at the drain's deadline.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from typing import Any, NamedTuple

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus

from acquirer_front import metrics
from acquirer_front.config import FrontConfig
from acquirer_front.connection import Listener, TerminalConnection
from acquirer_front.limits import ConnectionLimits, RefusalReason, SampledLog
from acquirer_front.pipeline import Pipeline
from proto.drain import Drain
from proto.links import TLS_HANDSHAKE_TIMEOUT_S, parse_address
from proto.tls import ServerTls, certificate_names, peer_name_allowed

log = structlog.get_logger("acquirer_front.server")

# While draining, how often the listener looks whether anything is left (only then).
_DRAIN_POLL_S = 0.01


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
        self.ended = anyio.Event()   # a bug (`failure`), or drained
        self._working = 0   # spawned work not finished
        self._draining = False

    def connection(self, gate: Listener | None = None) -> TerminalConnection:
        """A new connection, admitted by this listener or by `gate` (the bridges')."""
        return TerminalConnection(self._pipeline, self._config, gate or self)

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
            self.refuse(refusal, source, transport, open=self._limits.open_count,
                        held_by_source=self._limits.held_by(source))
            return False
        metrics.OPEN_CONNECTIONS.inc()
        self._sources[connection] = source
        if self._draining:   # accepted just before the listeners closed
            connection.drain()
        return True

    def refuse(self, reason: RefusalReason, source: str, transport: asyncio.Transport,
               **fields: object) -> None:
        """Close a connection not counted in: counted by reason, logged sampled."""
        metrics.REFUSED_CONNECTIONS.labels(reason).inc()
        self._refusal_logs[reason](reason=reason, source=source, **fields)
        transport.close()

    def closed(self, connection: TerminalConnection) -> None:
        """An admitted connection's transport is gone."""
        self._limits.release(self._sources.pop(connection))
        metrics.OPEN_CONNECTIONS.dec()

    def spawn(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._working += 1
        self._group.start_soon(self._run_work, work)

    async def _run_work(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            await work()
        finally:
            self._working -= 1

    def fail(self, exc: Exception) -> None:
        """A bug met in a connection's loop callback: `serve_terminals` raises it."""
        if self.failure is None:
            self.failure = exc
            self.ended.set()

    def abort_all(self) -> None:
        for connection in list(self._sources):
            connection.abort()

    @property
    def open_count(self) -> int:
        return len(self._sources)

    @property
    def working_count(self) -> int:
        return self._working

    @property
    def is_idle(self) -> bool:
        """No connection open, no spawned work running."""
        return not self._sources and not self._working

    def drain(self) -> None:
        self._draining = True
        for connection in list(self._sources):
            connection.drain()

    def stop_reading(self) -> None:
        for connection in list(self._sources):
            connection.stop_reading()


class _BridgeGate:
    """The bridge listener's admission: the client's certificate (verified by the handshake)
    must name an allowed bridge; then the listener's own admission and limits. Everything else
    is the listener's."""

    def __init__(self, listener: _Listener, peer_names: frozenset[str]) -> None:
        self._listener = listener
        self._peer_names = peer_names

    def admit(self, connection: TerminalConnection, transport: asyncio.Transport) -> bool:
        certificate = transport.get_extra_info("peercert")
        if peer_name_allowed(certificate, self._peer_names) is None:
            peername = transport.get_extra_info("peername")
            self._listener.refuse(RefusalReason.PEER_NAME,
                                  str(peername[0]) if peername else "gone", transport,
                                  names=certificate_names(certificate),
                                  allowed=sorted(self._peer_names))
            return False
        return self._listener.admit(connection, transport)

    def closed(self, connection: TerminalConnection) -> None:
        self._listener.closed(connection)

    def spawn(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._listener.spawn(work)

    def fail(self, exc: Exception) -> None:
        self._listener.fail(exc)


class ListeningPorts(NamedTuple):
    """The ports bound (a configured port may be 0)."""

    terminal: int
    bridge: int | None


async def serve_terminals(
    config: FrontConfig,
    pipeline: Pipeline,
    bridge_tls: ServerTls | None = None,
    *,
    drain: Drain | None = None,
    upstream_busy: Callable[[], bool] = lambda: False,
    task_status: TaskStatus[ListeningPorts] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Listen until cancelled or a bug, on the terminal port and, given `bridge_tls`, on
    `config.bridge_listen`; task_status gets the bound ports. Given `drain`, return once it
    is asked and done (the module's docstring); `upstream_busy` says whether requests still
    wait on the switch link (their answers may owe a reversal)."""
    assert (bridge_tls is None) == (config.bridge_listen is None)
    loop = asyncio.get_running_loop()
    async with anyio.create_task_group() as group:
        listener = _Listener(config, pipeline, group)
        with ExitStack() as servers:
            servers.callback(listener.abort_all)
            server = await loop.create_server(
                listener.connection, config.listen_host, config.listen_port,
                backlog=config.listen_backlog, reuse_address=True)
            servers.callback(server.close)
            listening = [server]
            ports = ListeningPorts(server.sockets[0].getsockname()[1], None)
            log.info("front_listening", host=config.listen_host, port=ports.terminal)
            if bridge_tls is not None:
                assert config.bridge_listen is not None
                gate = _BridgeGate(listener, bridge_tls.peer_names)
                host, port = parse_address(config.bridge_listen)
                bridge_server = await loop.create_server(
                    functools.partial(listener.connection, gate), host, port,
                    backlog=config.listen_backlog, reuse_address=True,
                    ssl=bridge_tls.context, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S)
                servers.callback(bridge_server.close)
                listening.append(bridge_server)
                ports = ports._replace(bridge=bridge_server.sockets[0].getsockname()[1])
                log.info("front_listening_for_bridges", host=host, port=ports.bridge,
                         peer_names=sorted(bridge_tls.peer_names))
            task_status.started(ports)
            if drain is not None:
                group.start_soon(_drain, listener, listening, drain, config, upstream_busy)
            await listener.ended.wait()
            if listener.failure is not None:
                raise listener.failure
            group.cancel_scope.cancel()   # drained: nothing runs, unless past the deadline


async def _drain(listener: _Listener, listening: list[asyncio.Server], drain: Drain,
                 config: FrontConfig, upstream_busy: Callable[[], bool]) -> None:
    """The drain's steps (the module's docstring), then `listener.ended`."""
    await drain.wait()
    for server in listening:
        server.close()
    listener.drain()
    log.info("front_draining", idle_wait_s=config.drain_idle_wait_s,
             drain_timeout_s=drain.timeout_s)

    def done() -> bool:
        return listener.is_idle and not upstream_busy()

    assert drain.asked_at is not None
    await _until(done, drain.asked_at + config.drain_idle_wait_s)
    if not done():
        listener.stop_reading()
        await _until(done, drain.deadline)
    if done():
        log.info("front_drained", after_s=round(anyio.current_time() - drain.asked_at, 3))
    else:
        log.warning("front_drain_timeout", connections=listener.open_count,
                    work=listener.working_count, upstream_busy=upstream_busy())
    listener.ended.set()


async def _until(condition: Callable[[], bool], deadline: float) -> None:
    """Until `condition()` holds or `deadline` (anyio clock) passes."""
    with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
        while not condition():
            await anyio.sleep(_DRAIN_POLL_S)
