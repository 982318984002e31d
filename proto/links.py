"""Internal links: persistent TCP connections that carry batches of frames both ways.

A `LinkClient` keeps one connection to a peer up (reconnecting with backoff, probing an idle
link with Ping) and sends `Request` batches; `serve_links` accepts such connections and answers
with `Answer` batches.

Why asyncio Protocols and not AnyIO streams: at moderate load every frame crosses a link alone,
and per message AnyIO's stream machinery (two `receive_exactly` with a cancel scope each, a task
switch into a writer task, a checkpoint per `send`) cost more than the work: py-spy of the
switch at 500 requests/s put ~70% of its CPU outside our code, and every request crosses four
link messages (front->switch->host and back). So the bytes are handled in the loop's callbacks:

- Receive: `data_received` cuts whole messages from the bytes in (LEN | msgpack) and handles
  them there: answers go to the client's sync `on_answers`, a Ping is answered with a Pong. The
  server's async `on_requests` runs in one reader task per connection, which drains a queue of
  decoded batches in order; while a handler call waits (the host's bounded queue is full),
  later batches wait too and, past a few, the transport stops reading: back-pressure reaches
  the sender through TCP.
- Send: frames queued on a connection are written by one callback scheduled with `call_soon`
  when the queue becomes non-empty, as one message (up to BATCH_FRAMES_MAX frames) and one
  `transport.write`: a loaded link batches itself, an idle one adds no delay. The queue is
  bounded (OUTBOX_ITEMS_MAX) and not written while the transport has asked to pause writing.

Every link is mutual TLS (`proto.tls`): the client checks the server's certificate and name, the
server requires a client certificate from the CA and accepts only the names it is given. A
server also bounds what one peer can hold: its connections (`connections_max`), a quiet
connection's life (`idle_timeout_s`, longer than a client's probe interval) and a message's
size (`message_size_max`, on both ends: a sender splits a batch that would exceed it). What
these close is counted in `proto.link_metrics`.

A drain (`proto.drain`, a service's graceful stop): `serve_links` stops accepting, sends each
client `Closing`, and the client answers `ClosingSeen` once it has stopped sending on that
connection (its requests already sent are ahead of it in the stream). The server then closes
each connection once it has queued as many answers as it received requests and has written
them: no request that reached it loses its answer to the stop. Past the drain's deadline the
connections are closed as before. A client told `Closing` reports itself down (`send` refuses,
so callers answer for new requests as when the link is down) but still delivers the answers
coming on that connection; `peer_stopping` says the peer left on purpose and is expected
back, so a caller may wait for it (`wait_up`) instead of refusing at once.

Beside the batches, one question and its answer: a switch with several hosts sends
`KeysWanted` (`LinkClient.send_control`, from its `on_up`) and the server's `on_keys_wanted`
answers `KeyDigests` in a task of its own, one message at a time as the transport takes it
(`LinkPeer.send_message`); a server without the handler answers none, `done`, at once.

Structured concurrency stays: `LinkClient.run` and `serve_links` run until cancelled and close
their transports when they end; the probe is a loop of anyio sleeps. A lost connection (closed,
a malformed message, no answer to a probe) ends that connection only. A bug (an AssertionError,
a caller's handler raising anything but a link error) ends the service: raised in a task, it
propagates; raised in a loop callback, where the loop would only log it, the connection keeps
it in `failure`, closes, and the coroutine that owns the connection re-raises it.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus

from proto import link_metrics
from proto.drain import Drain
from proto.errors import LinkCodecError, LinkMessageSizeError
from proto.frames import (
    Answer,
    AnswerBatch,
    Closing,
    ClosingSeen,
    KeyDigests,
    KeysWanted,
    LinkMessage,
    Ping,
    Pong,
    Request,
    RequestBatch,
)
from proto.link_codec import LINK_MESSAGE_SIZE_MAX, encode_link_message_into, take_link_messages
from proto.link_metrics import Closed
from proto.tls import ClientTls, ServerTls, peer_name_allowed

log = structlog.get_logger("proto.links")

# Frames in one link message (about 200 bytes a frame); a batch over the message size limit is
# split in halves until each part fits.
BATCH_FRAMES_MAX = 4_096
# Queued items (lists of frames) per connection before senders wait or are refused.
OUTBOX_ITEMS_MAX = 10_000
# Control messages (Ping, Pong) are queued past OUTBOX_ITEMS_MAX, so that a probe is never
# refused; a legitimate peer pings once per echo interval, so a connection with this many
# queued beyond the bound has a peer that sends and never reads: it is closed.
_CONTROL_ITEMS_MAX = 64
# Request batches decoded ahead of the server's handler before the transport stops reading.
_READ_AHEAD_MESSAGES_MAX = 4

# While draining, how often a link server looks whether its connections have had their answers
# (only during a drain: a few hundred looks in all).
_DRAIN_POLL_S = 0.01

# A peer that said `Closing` is restarting: it is tried this often until it is back, rather than
# after a doubled backoff (up to 2 s), so that the requests its absence holds or refuses wait
# 0.1 s at most past its return. A refused connection costs microseconds on either side.
_RESTART_RETRY_S = 0.1

# A TLS handshake not done by then is dropped: a peer must not hold a half-open connection.
TLS_HANDSHAKE_TIMEOUT_S = 10.0

# What ends one connection quietly (a handler may raise these too, as it could before).
_LINK_ERRORS = (OSError, LinkCodecError, TimeoutError, anyio.BrokenResourceError,
                anyio.ClosedResourceError, anyio.EndOfStream)

_Outgoing = list[Any] | Ping | Pong | Closing | ClosingSeen | KeysWanted | KeyDigests
_Control = Ping | Pong | Closing | ClosingSeen | KeysWanted | KeyDigests


def parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


class _Connection(asyncio.Protocol):
    """One link connection, either end: messages cut from the bytes received, and an outbox
    flushed as one batch per loop turn. Subclasses handle messages and the end."""

    def __init__(self, batch_type: type[RequestBatch] | type[AnswerBatch], link_name: str,
                 message_size_max: int) -> None:
        self._batch_type = batch_type
        self._link_name = link_name
        self._message_size_max = message_size_max
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._received = bytearray()
        self._outbox: list[_Outgoing] = []
        self._outbox_frames = 0   # lists in the outbox, which OUTBOX_ITEMS_MAX bounds
        self.frames_queued = 0    # in all: a drained server has queued an answer per request
        self._flush_scheduled = False
        self._writing_paused = False
        self._room: anyio.Event | None = None
        self.closed = False
        # A bug met in a loop callback (see `_fail`): re-raised by the coroutine that owns the
        # connection once it is closed.
        self.failure: Exception | None = None

    # Receiving.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport (uvloop's is not a subclass of asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        received = self._received
        if received:
            received += data
            source: bytes | bytearray = received
        else:
            source = data
        try:
            messages, taken = take_link_messages(source, self._message_size_max)
        except LinkMessageSizeError as exc:
            self._received = bytearray()
            log.warning("link_message_too_large", link=self._link_name, error=str(exc))
            link_metrics.closed(self._link_name, Closed.MESSAGE_SIZE)
            self.close()
            return
        except LinkCodecError as exc:
            self._received = bytearray()
            log.debug("link_error", error=repr(exc))
            link_metrics.closed(self._link_name, Closed.MALFORMED)
            self.close()
            return
        if source is received:
            del received[:taken]
        elif taken < len(data):
            received += memoryview(data)[taken:]
        for message in messages:
            if self.closed:
                return
            try:
                self._handle(message)
            except LinkCodecError as exc:
                log.debug("link_error", error=repr(exc))
                self.close()
            except Exception as exc:   # a bug, the caller's handler's or ours: see _fail
                self._fail(exc)

    def eof_received(self) -> bool:
        log.debug("link_error", error="closed by the peer")
        return False   # close the transport: a link is never half-open

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            log.debug("link_error", error=repr(exc))
        self.close()

    def _handle(self, message: LinkMessage) -> None:
        raise NotImplementedError

    # Sending.

    def put_nowait(self, frames: list[Any]) -> bool:
        """Queue frames to go out in the next batch; False when closed or full."""
        if self.closed or self._outbox_frames >= OUTBOX_ITEMS_MAX:
            return False
        self._outbox_frames += 1
        self.frames_queued += len(frames)
        self._queue(frames)
        return True

    def put_message(self, message: KeyDigests) -> bool:
        """Queue a message that is neither frames nor control (bounded as a list of frames
        is); False when closed or full."""
        if self.closed or self._outbox_frames >= OUTBOX_ITEMS_MAX:
            return False
        self._outbox_frames += 1
        self._queue(message)
        return True

    def put_control(self, message: _Control) -> None:
        if self.closed:
            return
        if len(self._outbox) - self._outbox_frames >= _CONTROL_ITEMS_MAX:
            log.warning("link_peer_not_reading", queued=len(self._outbox))
            self.close()
            return
        self._queue(message)

    async def wait_room(self) -> None:
        """Until the outbox has room or the connection is closed."""
        if self._room is None:
            self._room = anyio.Event()
        await self._room.wait()

    def _queue(self, item: _Outgoing) -> None:
        self._outbox.append(item)
        if not self._flush_scheduled and not self._writing_paused:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.closed or self._writing_paused or not self._outbox:
            return
        items, self._outbox = self._outbox, []
        self._outbox_frames = 0
        self._wake_senders()
        encoded = bytearray()
        frames: list[Any] = []
        try:
            for item in items:
                if type(item) is list:
                    frames += item
                    continue
                self._encode_frames(frames, encoded)
                frames = []
                # Not a list, so a control message (`type() is` narrows only the true branch).
                encode_link_message_into(cast(_Control, item), encoded,
                                         self._message_size_max)
            self._encode_frames(frames, encoded)
            assert self.transport is not None
            self.transport.write(encoded)
        except Exception as exc:   # a bug (every frame we queue encodes): see _fail
            self._fail(exc)

    def _encode_frames(self, frames: list[Any], encoded: bytearray) -> None:
        for start in range(0, len(frames), BATCH_FRAMES_MAX):
            self._encode_batch(frames[start:start + BATCH_FRAMES_MAX], encoded)

    def _encode_batch(self, frames: list[Any], encoded: bytearray) -> None:
        """One message, or halves of it while it is over the size limit (rare: big frames)."""
        try:
            encode_link_message_into(self._batch_type(frames), encoded, self._message_size_max)
        except LinkMessageSizeError:
            assert len(frames) > 1, "one frame is far below any message size limit"
            half = len(frames) // 2
            self._encode_batch(frames[:half], encoded)
            self._encode_batch(frames[half:], encoded)

    def _wake_senders(self) -> None:
        if self._room is not None:
            self._room.set()
            self._room = None

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_senders()   # a sender waiting for `is_flushed`
        if self._outbox and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    @property
    def is_flushed(self) -> bool:
        """Everything queued is written to the transport (which `close(graceful=True)`
        flushes before it closes)."""
        return not self._outbox and not self._writing_paused

    def discard_all(self) -> int:
        """Drop what is queued (the connection it was for is gone); returns frames dropped."""
        dropped = sum(len(item) for item in self._outbox if type(item) is list)
        self._outbox = []
        self._outbox_frames = 0
        return dropped

    # The end.

    def _fail(self, exc: Exception) -> None:
        """A bug met in a loop callback, where the loop would only log it and go on: the
        connection ends, and its owner (`LinkClient.run`, or the server's reader task)
        re-raises `exc`, ending the service for its supervisor to restart."""
        if self.failure is None:
            self.failure = exc
        self.close()

    def close(self, *, graceful: bool = False) -> None:
        """End the connection (idempotent): whatever is unsent is dropped, unless `graceful`,
        where what the transport holds is written first (its outbox must be flushed)."""
        if self.closed:
            return
        self.closed = True
        if self.transport is not None:
            if graceful:
                self.transport.close()
            else:
                self.transport.abort()
        self._wake_senders()
        self._closed()

    def _closed(self) -> None:
        """What the subclass does once, when the connection ends."""


class _ClientConnection(_Connection):
    def __init__(self, client: LinkClient) -> None:
        super().__init__(RequestBatch, client.name, client.message_size_max)
        self._client = client
        self.last_received = anyio.current_time()
        self.ended: anyio.CancelScope | None = None   # cancelled when the connection ends

    def data_received(self, data: bytes) -> None:
        self.last_received = self._loop.time()
        super().data_received(data)

    def _handle(self, message: LinkMessage) -> None:
        if type(message) is AnswerBatch:
            self._client._on_answers(message.answers)
        elif type(message) is Closing:
            self._client._on_closing(self)
        elif type(message) is KeyDigests and self._client._on_key_digests is not None:
            self._client._on_key_digests(message)
        elif type(message) is not Pong:
            raise LinkCodecError(f"unexpected {type(message).__name__} from a server")

    def _closed(self) -> None:
        if self.ended is not None:
            self.ended.cancel()


class LinkClient:
    """One persistent link to a peer. `send` never waits: False means the frames were not taken
    (link down or outbox full) and the caller answers for them itself."""

    def __init__(
        self,
        address: str,
        *,
        name: str,
        on_answers: Callable[[list[Answer]], None],
        on_down: Callable[[], None],
        tls: ClientTls,
        message_size_max: int = LINK_MESSAGE_SIZE_MAX,
        connect_timeout_s: float = 3.0,
        echo_interval_s: float = 5.0,
        echo_timeout_s: float = 3.0,
        backoff_s_min: float = 0.05,
        backoff_s_max: float = 2.0,
        on_up: Callable[[], None] | None = None,
        on_key_digests: Callable[[KeyDigests], None] | None = None,
    ) -> None:
        """`on_up` is called each time a connection is up (`send_control` may then ask the
        peer something); `on_key_digests` takes the peer's `KeyDigests` (without it they end
        the connection as any unexpected message does)."""
        self.address = address
        self._on_up = on_up
        self._on_key_digests = on_key_digests
        self.name = name
        self._on_answers = on_answers
        self._on_down = on_down
        self._tls = tls
        self.message_size_max = message_size_max
        self._connect_timeout_s = connect_timeout_s
        self._echo_interval_s = echo_interval_s
        self._echo_timeout_s = echo_timeout_s
        self._backoff_s_min = backoff_s_min
        self._backoff_s_max = backoff_s_max
        self._connection: _ClientConnection | None = None
        self._nonces = itertools.count(1)
        self._up = anyio.Event()
        self.is_up = False
        # The peer said it is stopping (`Closing`): it is expected back, at the same address.
        self.peer_stopping = False

    def send(self, requests: list[Request]) -> bool:
        connection = self._connection
        return connection is not None and connection.put_nowait(requests)

    def send_control(self, message: KeysWanted) -> bool:
        """Ask the peer something outside the request batches; False when the link is down."""
        connection = self._connection
        if connection is None or connection.closed:
            return False
        connection.put_control(message)
        return True

    async def wait_up(self) -> None:
        await self._up.wait()

    def _down(self) -> None:
        self._connection = None
        self.is_up = False
        if self._up.is_set():   # a waiter on the unset one is woken by the next connection
            self._up = anyio.Event()

    def _on_closing(self, connection: _ClientConnection) -> None:
        """The server drains: send nothing more on this connection (callers see the link
        down) and say so; the answers it owes still come on it until it closes."""
        if self._connection is connection:
            self._down()
            self.peer_stopping = True
            log.info("link_peer_closing", link=self.name, address=self.address)
        connection.put_control(ClosingSeen())

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        loop = asyncio.get_running_loop()
        host, port = parse_address(self.address)
        backoff_s = self._backoff_s_min
        while True:
            log.debug("link_connecting", link=self.name, address=self.address,
                      server_name=self._tls.server_name)
            try:
                with anyio.fail_after(self._connect_timeout_s):
                    _, connection = await loop.create_connection(
                        lambda: _ClientConnection(self), host, port, ssl=self._tls.context,
                        server_hostname=self._tls.server_name,
                        ssl_handshake_timeout=self._connect_timeout_s)
            except ssl.SSLError as exc:
                # The peer's certificate is not from our CA, or not for the expected name:
                # someone else holds the port. Worth an operator's attention, not a debug line.
                log.warning("link_tls_refused", link=self.name, address=self.address,
                            expected=self._tls.server_name, error=str(exc))
                link_metrics.closed(self.name, Closed.TLS_REFUSED)
                await anyio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, self._backoff_s_max)
                continue
            except (OSError, TimeoutError) as exc:
                log.debug("link_connect_failed", link=self.name, address=self.address,
                          error=str(exc))
                if self.peer_stopping:   # restarting: its return is looked for often
                    backoff_s = min(_RESTART_RETRY_S, self._backoff_s_max)
                await anyio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, self._backoff_s_max)
                continue
            backoff_s = self._backoff_s_min
            log.info("link_up", link=self.name, address=self.address)
            try:
                await self._run_connection(connection)
            finally:
                connection.close()
                self._down()
                dropped = connection.discard_all()
                # After the peer's `Closing`, the end it announced (a restart), not a fault.
                (log.info if self.peer_stopping else log.warning)(
                    "link_down", link=self.name, address=self.address, frames_dropped=dropped)
                self._on_down()
            if connection.failure is not None:
                raise connection.failure

    async def _run_connection(self, connection: _ClientConnection) -> None:
        if connection.closed:   # lost between connecting and here
            return
        with anyio.CancelScope() as connection.ended:
            connection.last_received = anyio.current_time()
            self._connection = connection
            self.is_up = True
            self.peer_stopping = False
            self._up.set()
            if self._on_up is not None:
                self._on_up()
            await self._probe_forever(connection)

    async def _probe_forever(self, connection: _ClientConnection) -> None:
        """Ping a link that has been quiet for a while; a peer that does not answer is gone."""
        while True:
            await anyio.sleep(self._echo_interval_s)
            if anyio.current_time() - connection.last_received < self._echo_interval_s:
                continue
            sent_at = anyio.current_time()
            connection.put_control(Ping(next(self._nonces)))
            await anyio.sleep(self._echo_timeout_s)
            if connection.last_received < sent_at:
                log.debug("link_error", error=f"no answer to a probe within "
                          f"{self._echo_timeout_s} s")
                return


class LinkPeer:
    """The server's side of one accepted link: where its answers go."""

    def __init__(self, peer_name: str, connection: _ServerConnection) -> None:
        self.name = peer_name
        self._connection = connection

    @property
    def is_open(self) -> bool:
        return not self._connection.closed

    async def send_answers(self, answers: list[Answer]) -> None:
        """Queue answers; waits while the peer's outbox is full, drops them once it is gone."""
        connection = self._connection
        while not connection.put_nowait(answers) and not connection.closed:
            await connection.wait_room()

    def send_answers_nowait(self, answers: list[Answer]) -> bool:
        return self._connection.put_nowait(answers)

    async def send_message(self, message: KeyDigests) -> bool:
        """Queue a message and wait until it is written to the transport and the transport
        takes more (so that a long answer in many messages holds one in memory at a time);
        False once the connection is gone."""
        connection = self._connection
        while not connection.put_message(message):
            if connection.closed:
                return False
            await connection.wait_room()
        while not connection.is_flushed and not connection.closed:
            await connection.wait_room()
        return not connection.closed


RequestHandler = Callable[[LinkPeer, list[Request]], Awaitable[None]]
# Answers a switch's `KeysWanted` with `KeyDigests` (LinkPeer.send_message), in a task of its
# own: a long answer must not hold up the requests behind it on the connection.
KeysWantedHandler = Callable[[LinkPeer, KeysWanted], Awaitable[None]]


class LinkServerLimits:
    """What one peer of a link server may hold (each a service's config field, with its
    reason there)."""

    __slots__ = ("connections_max", "idle_timeout_s", "message_size_max")

    def __init__(self, *, connections_max: int = 16, idle_timeout_s: float = 60.0,
                 message_size_max: int = LINK_MESSAGE_SIZE_MAX) -> None:
        assert connections_max >= 1 and idle_timeout_s > 0 and message_size_max > 0
        self.connections_max = connections_max
        self.idle_timeout_s = idle_timeout_s
        self.message_size_max = message_size_max


class _Server:
    """What the connections of one `serve_links` share."""

    def __init__(self, name: str, on_requests: RequestHandler,
                 on_peer_gone: Callable[[LinkPeer], None] | None, group: TaskGroup,
                 tls: ServerTls, limits: LinkServerLimits,
                 on_keys_wanted: KeysWantedHandler | None = None) -> None:
        self.name = name
        self.on_keys_wanted = on_keys_wanted
        self.tls = tls
        self.limits = limits
        self.on_requests = on_requests
        self.on_peer_gone = on_peer_gone
        self.group = group
        self.connections: set[_ServerConnection] = set()
        self.serving = True


class _ServerConnection(_Connection):
    """An accepted link: request batches go, in order, to the handler in a reader task."""

    def __init__(self, server: _Server) -> None:
        super().__init__(AnswerBatch, server.name, server.limits.message_size_max)
        self._server = server
        self._last_received = self._loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None
        self.peer: LinkPeer | None = None
        self._inbox: deque[list[Request]] = deque()
        self._inbox_ready: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._reader_scope = anyio.CancelScope()
        self.requests_received = 0
        self.closing_seen = False   # the client sends nothing more (a drain)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        server = self._server
        if not server.serving:
            self._refuse(transport, None)
            return
        remote = transport.get_extra_info("peername")
        # Called once the TLS handshake is done: the client's certificate is verified.
        peer_name = peer_name_allowed(transport.get_extra_info("peercert"),
                                      server.tls.peer_names)
        if peer_name is None:
            log.warning("link_peer_refused", link=server.name, remote=str(remote),
                        allowed=sorted(server.tls.peer_names),
                        certificate=transport.get_extra_info("peercert"))
            self._refuse(transport, Closed.PEER_NAME)
            return
        if len(server.connections) >= server.limits.connections_max:
            log.warning("link_connections_max", link=server.name, remote=str(remote),
                        connections_max=server.limits.connections_max)
            self._refuse(transport, Closed.CONNECTIONS_MAX)
            return
        self.peer = LinkPeer(f"{server.name}<-{peer_name}@{remote[0]}:{remote[1]}", self)
        server.connections.add(self)
        link_metrics.CONNECTIONS_OPEN.labels(link=server.name).inc()
        log.info("link_accepted", link=self.peer.name)
        self._idle_timer = self._loop.call_later(server.limits.idle_timeout_s, self._check_idle)
        server.group.start_soon(self._serve_requests)

    def _refuse(self, transport: asyncio.BaseTransport, reason: Closed | None) -> None:
        self.closed = True
        cast(asyncio.Transport, transport).abort()
        if reason is not None:
            link_metrics.closed(self._server.name, reason)

    def data_received(self, data: bytes) -> None:
        self._last_received = self._loop.time()
        super().data_received(data)

    def _check_idle(self) -> None:
        """The idle timer: a connection quiet for idle_timeout_s is closed (a live client
        probes a quiet link well within it), else the timer waits for the rest."""
        self._idle_timer = None
        if self.closed:
            return
        idle_timeout_s = self._server.limits.idle_timeout_s
        quiet_s = self._loop.time() - self._last_received
        if quiet_s >= idle_timeout_s:
            assert self.peer is not None
            log.warning("link_idle_timeout", link=self.peer.name, quiet_s=round(quiet_s, 3))
            link_metrics.closed(self._server.name, Closed.IDLE_TIMEOUT)
            self.close()
            return
        self._idle_timer = self._loop.call_later(idle_timeout_s - quiet_s, self._check_idle)

    def _handle(self, message: LinkMessage) -> None:
        if type(message) is RequestBatch:
            self.requests_received += len(message.requests)
            self._inbox.append(message.requests)
            if self._inbox_ready is not None and not self._inbox_ready.done():
                self._inbox_ready.set_result(None)
            if len(self._inbox) > _READ_AHEAD_MESSAGES_MAX and not self._reading_paused:
                self._reading_paused = True
                assert self.transport is not None
                self.transport.pause_reading()
        elif type(message) is Ping:
            self.put_control(Pong(message.nonce))
        elif type(message) is ClosingSeen:
            self.closing_seen = True
        elif type(message) is KeysWanted:
            if self._server.on_keys_wanted is not None:
                self._server.group.start_soon(self._answer_keys_wanted, message)
            else:   # a server that remembers no keys: none, at once
                self.put_message(KeyDigests(b"", message.since_s, done=True))
        else:
            raise LinkCodecError(f"unexpected {type(message).__name__} from a client")

    async def _answer_keys_wanted(self, message: KeysWanted) -> None:
        assert self.peer is not None and self._server.on_keys_wanted is not None
        try:
            await self._server.on_keys_wanted(self.peer, message)
        except _LINK_ERRORS as exc:
            log.debug("link_error", error=repr(exc))
            self.close()

    @property
    def is_drained(self) -> bool:
        """Told `Closing` and acknowledged, an answer queued for every request received, and
        all of it written: nothing is owed on this connection any more."""
        return self.closing_seen and not self._inbox \
            and self.frames_queued >= self.requests_received and self.is_flushed

    async def _serve_requests(self) -> None:
        """The reader task: each batch to the handler in turn, until the connection ends."""
        assert self.peer is not None
        peer, on_requests, inbox = self.peer, self._server.on_requests, self._inbox
        with self._reader_scope:
            while not self.closed:
                if not inbox:
                    if self._reading_paused:
                        self._reading_paused = False
                        assert self.transport is not None
                        self.transport.resume_reading()
                    self._inbox_ready = self._loop.create_future()
                    await self._inbox_ready
                    continue
                try:
                    await on_requests(peer, inbox.popleft())
                except _LINK_ERRORS as exc:
                    log.debug("link_error", error=repr(exc))
                    self.close()
        if self.failure is not None:
            raise self.failure

    def _closed(self) -> None:
        self._inbox.clear()
        self._reader_scope.cancel()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        server = self._server
        if self.peer is None:
            return
        server.connections.discard(self)
        link_metrics.CONNECTIONS_OPEN.labels(link=server.name).dec()
        log.info("link_closed", link=self.peer.name)
        if server.on_peer_gone is not None:
            try:
                server.on_peer_gone(self.peer)
            except Exception as exc:   # a caller's bug, maybe in a loop callback: see _fail
                self.failure = self.failure or exc   # the reader task, cancelled, re-raises it


async def serve_links(
    host: str,
    port: int,
    on_requests: RequestHandler,
    *,
    name: str,
    tls: ServerTls,
    limits: LinkServerLimits | None = None,
    on_peer_gone: Callable[[LinkPeer], None] | None = None,
    on_keys_wanted: KeysWantedHandler | None = None,
    drain: Drain | None = None,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Accept links (mutual TLS, clients named in `tls.peer_names`) on host:port until
    cancelled, or, given `drain`, until it is asked and every connection has had its answers
    (or its deadline passed: see the module's docstring); task_status gets the bound port."""
    loop = asyncio.get_running_loop()
    async with anyio.create_task_group() as group:
        server = _Server(name, on_requests, on_peer_gone, group, tls,
                         limits or LinkServerLimits(), on_keys_wanted)
        listener = await loop.create_server(
            lambda: _ServerConnection(server), host, port, reuse_address=True,
            ssl=tls.context, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S)
        try:
            bound_port = listener.sockets[0].getsockname()[1]
            log.info("link_listening", link=name, host=host, port=bound_port)
            task_status.started(bound_port)
            if drain is None:
                await anyio.sleep_forever()
            else:
                await drain.wait()
                server.serving = False
                listener.close()
                await _drain_connections(server, drain.deadline)
        finally:
            server.serving = False
            listener.close()
            for connection in list(server.connections):
                connection.close()


async def _drain_connections(server: _Server, deadline: float) -> None:
    """Tell every client `Closing`, then close each connection once it is drained (its answers
    written), all by `deadline`; what is left then is closed by the caller, as before."""
    told = list(server.connections)
    for connection in told:
        connection.put_control(Closing())
    log.info("link_draining", link=server.name, connections=len(told))
    with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
        while server.connections:
            for connection in list(server.connections):
                if connection.is_drained:
                    connection.close(graceful=True)
            if server.connections:
                await anyio.sleep(_DRAIN_POLL_S)
    if server.connections:
        log.warning("link_drain_timeout", link=server.name, connections=len(server.connections))
    else:
        log.info("link_drained", link=server.name, connections=len(told))
