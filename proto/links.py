"""Internal links: persistent TCP connections that carry batches of frames both ways.

A `LinkClient` keeps one connection to a peer up (reconnecting with backoff, probing an idle
link with Ping) and sends `Request` batches; `serve_links` accepts such connections and answers
with `Answer` batches. Whatever is queued while a writer is busy goes out as one batch, so a
loaded link batches itself and an idle one adds no delay.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import structlog
from anyio.abc import SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from proto.errors import LinkCodecError
from proto.frames import Answer, AnswerBatch, Ping, Pong, Request, RequestBatch
from proto.link_codec import encode_link_message, read_link_message

log = structlog.get_logger("proto.links")

# Frames in one link message: bounds the message size (about 200 bytes a frame).
BATCH_FRAMES_MAX = 4_096
# Queued items (lists of frames or control messages) per connection before senders wait.
OUTBOX_ITEMS_MAX = 10_000

_LINK_ERRORS = (
    anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.IncompleteRead,
    anyio.EndOfStream, OSError, LinkCodecError, TimeoutError,
)


def parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


class _Outbox:
    """A bounded queue in front of one stream, drained into batches by one writer task."""

    def __init__(self, batch_type: type[RequestBatch] | type[AnswerBatch]) -> None:
        self._batch_type = batch_type
        self._send, self._receive = anyio.create_memory_object_stream[Any](OUTBOX_ITEMS_MAX)

    def put_nowait(self, item: list[Any] | Ping | Pong) -> bool:
        try:
            self._send.send_nowait(item)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    async def put(self, item: list[Any] | Ping | Pong) -> None:
        await self._send.send(item)

    def discard_all(self) -> int:
        """Drop what is queued (the connection it was for is gone); returns frames dropped."""
        dropped = 0
        while True:
            try:
                item = self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream):
                return dropped
            dropped += len(item) if isinstance(item, list) else 0

    def close(self) -> None:
        self._send.close()
        self._receive.close()

    async def write_forever(self, stream: SocketStream) -> None:
        while True:
            item = await self._receive.receive()
            if not isinstance(item, list):
                await stream.send(encode_link_message(item))
                continue
            frames = list(item)
            held: Ping | Pong | None = None
            while len(frames) < BATCH_FRAMES_MAX and held is None:
                try:
                    more = self._receive.receive_nowait()
                except anyio.WouldBlock:
                    break
                if isinstance(more, list):
                    frames.extend(more)
                else:
                    held = more
            await stream.send(encode_link_message(self._batch_type(frames)))
            if held is not None:
                await stream.send(encode_link_message(held))


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
        connect_timeout_s: float = 3.0,
        echo_interval_s: float = 5.0,
        echo_timeout_s: float = 3.0,
        backoff_min_s: float = 0.05,
        backoff_max_s: float = 2.0,
    ) -> None:
        self.address = address
        self.name = name
        self._on_answers = on_answers
        self._on_down = on_down
        self._connect_timeout_s = connect_timeout_s
        self._echo_interval_s = echo_interval_s
        self._echo_timeout_s = echo_timeout_s
        self._backoff_min_s = backoff_min_s
        self._backoff_max_s = backoff_max_s
        self._outbox = _Outbox(RequestBatch)
        self._nonces = itertools.count(1)
        self._last_received = -math.inf
        self._up = anyio.Event()
        self.is_up = False

    def send(self, requests: list[Request]) -> bool:
        return self.is_up and self._outbox.put_nowait(requests)

    async def wait_up(self) -> None:
        await self._up.wait()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        host, port = parse_address(self.address)
        backoff_s = self._backoff_min_s
        while True:
            try:
                with anyio.fail_after(self._connect_timeout_s):
                    stream = await anyio.connect_tcp(host, port)
            except (OSError, TimeoutError) as exc:
                log.debug("link_connect_failed", link=self.name, address=self.address,
                          error=str(exc))
                await anyio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, self._backoff_max_s)
                continue
            backoff_s = self._backoff_min_s
            log.info("link_up", link=self.name, address=self.address)
            try:
                await self._run_connection(stream)
            finally:
                self.is_up = False
                self._up = anyio.Event()
                dropped = self._outbox.discard_all()
                log.warning("link_down", link=self.name, address=self.address,
                            frames_dropped=dropped)
                self._on_down()

    async def _run_connection(self, stream: SocketStream) -> None:
        async with stream, anyio.create_task_group() as group:
            self._last_received = anyio.current_time()
            self.is_up = True
            self._up.set()
            group.start_soon(_until_error, self._outbox.write_forever(stream), group)
            group.start_soon(_until_error, self._probe_forever(), group)
            await _until_error(self._read_forever(stream), group)

    async def _read_forever(self, stream: SocketStream) -> None:
        buffered = BufferedByteReceiveStream(stream)
        while True:
            message = await read_link_message(buffered)
            self._last_received = anyio.current_time()
            if isinstance(message, AnswerBatch):
                self._on_answers(message.answers)
            elif not isinstance(message, Pong):
                raise LinkCodecError(f"unexpected {type(message).__name__} from a server")

    async def _probe_forever(self) -> None:
        """Ping a link that has been quiet for a while; a peer that does not answer is gone."""
        while True:
            await anyio.sleep(self._echo_interval_s)
            if anyio.current_time() - self._last_received < self._echo_interval_s:
                continue
            sent_at = anyio.current_time()
            await self._outbox.put(Ping(next(self._nonces)))
            await anyio.sleep(self._echo_timeout_s)
            if self._last_received < sent_at:
                raise TimeoutError(f"no answer to a probe within {self._echo_timeout_s} s")


class LinkPeer:
    """The server's side of one accepted link: where its answers go."""

    def __init__(self, peer_name: str) -> None:
        self.name = peer_name
        self._outbox = _Outbox(AnswerBatch)
        self.is_open = True

    async def send_answers(self, answers: list[Answer]) -> None:
        """Queue answers; waits while the peer's outbox is full, drops them once it is gone."""
        if self.is_open:
            try:
                await self._outbox.put(answers)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass

    def send_answers_nowait(self, answers: list[Answer]) -> bool:
        return self.is_open and self._outbox.put_nowait(answers)


RequestHandler = Callable[[LinkPeer, list[Request]], Awaitable[None]]


async def serve_links(
    host: str,
    port: int,
    on_requests: RequestHandler,
    *,
    name: str,
    on_peer_gone: Callable[[LinkPeer], None] | None = None,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Accept links on host:port forever; task_status gets the bound port."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port, reuse_port=False)
    bound_port = listener.extra(anyio.abc.SocketAttribute.local_port)
    log.info("link_listening", link=name, host=host, port=bound_port)

    async def handle(stream: SocketStream) -> None:
        remote = stream.extra(anyio.abc.SocketAttribute.remote_address)
        peer = LinkPeer(f"{name}<-{remote[0]}:{remote[1]}")
        log.info("link_accepted", link=peer.name)
        try:
            async with stream, anyio.create_task_group() as group:
                group.start_soon(_until_error, peer._outbox.write_forever(stream), group)
                await _until_error(_serve_reads(stream, peer, on_requests), group)
        finally:
            peer.is_open = False
            peer._outbox.close()
            log.info("link_closed", link=peer.name)
            if on_peer_gone is not None:
                on_peer_gone(peer)

    async with listener:
        task_status.started(bound_port)
        await listener.serve(handle)


async def _serve_reads(stream: SocketStream, peer: LinkPeer, on_requests: RequestHandler) -> None:
    buffered = BufferedByteReceiveStream(stream)
    while True:
        message = await read_link_message(buffered)
        if isinstance(message, RequestBatch):
            await on_requests(peer, message.requests)
        elif isinstance(message, Ping):
            await peer._outbox.put(Pong(message.nonce))
        else:
            raise LinkCodecError(f"unexpected {type(message).__name__} from a client")


async def _until_error(work: Awaitable[None], group: anyio.abc.TaskGroup) -> None:
    """Run one side of a connection; any link error ends the whole connection quietly."""
    try:
        await work
    except _LINK_ERRORS as exc:
        log.debug("link_error", error=repr(exc))
    finally:
        group.cancel_scope.cancel()
