"""One terminal connection: a reader that decodes frames and submits them, one writer.

Requests are pipelined: the reader goes on reading while earlier requests wait for the host,
up to `pipelined_requests_max` in flight. A request takes no task of its own: the pipeline
checks it and sends it on, and its answer comes back by callback (a sign-on, or a request
store-and-forward must settle, runs as a task). Answers go to an outbox that one writer task empties
with one socket write per wake-up (the answers of a link batch arrive together: one write for
all of them, not one each). Any framing error closes the connection at once, with nothing
posted; in-flight requests of that connection go on to their answers, which are no longer
written.

An approval of a 0200 that the terminal does not get is reversed (issue 8): the connection was
closed before its write, the write failed, or the terminal had ended its side of the
connection and reset it when the approval reached it. A terminal that only half-closed (and
still reads) gets its answer as before. Only these failure paths do more than before.
"""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

import anyio
import msgspec
import structlog
from anyio.abc import SocketAttribute, SocketStream, TaskGroup

from acquirer_front import metrics
from acquirer_front.answer import encode_answer
from acquirer_front.config import FrontConfig
from acquirer_front.exchange import Exchange
from acquirer_front.limits import SampledLog
from acquirer_front.pipeline import Pipeline, failed_request_fields
from acquirer_front.saf.entries import REVERSED_MTIS
from proto.codes import ResponseCode, answer_mti
from proto.errors import FrameSizeError, IsoDecodeError, TpduError
from proto.frame_buffer import FrameBuffer
from proto.framing import Tpdu, encode_frame
from proto.iso_codec import IsoMessage, decode_iso

log = structlog.get_logger("acquirer_front.connection")

_PEER_GONE = (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError)
_WRITE_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, TimeoutError)
# While watching for a terminal's reset after an approval written past its EOF: a kernel state,
# so it is polled; 10 ms is well below a terminal's patience and costs nothing on this rare path.
_RESET_POLL_S = 0.01
_TCP_CLOSE = 7   # Linux tcp_states.h: what a reset leaves the socket in



class CloseReason(StrEnum):
    PEER_CLOSED = "peer_closed"       # between frames: a normal end
    IDLE = "idle"                     # no frame started within idle_timeout_s
    WRITE_FAILED = "write_failed"     # the terminal does not take its answers
    # Framing errors (counted by reason):
    FRAME_SIZE = "frame_size"         # LEN above frame_size_max or below a TPDU and an MTI
    TPDU = "tpdu"                     # TPDU not starting with 0x60
    ISO = "iso"                       # body not decodable as ISO 8583
    ANSWER_MTI = "answer_mti"         # an MTI whose +10 is not an MTI (9990 and above)
    TRUNCATED = "truncated"           # the peer hung up inside a frame
    FRAME_TIMEOUT = "frame_timeout"   # a frame started but not completed in time


_NOT_FRAMING = frozenset({CloseReason.PEER_CLOSED, CloseReason.IDLE, CloseReason.WRITE_FAILED})
# A hostile peer can make framing errors as fast as it can connect: each is counted, but the
# warning is sampled per reason so that it cannot fill the disk.
_FRAMING_LOGS = {reason: SampledLog(log.warning, "framing_error")
                 for reason in CloseReason if reason not in _NOT_FRAMING}


async def serve_connection(stream: SocketStream, pipeline: Pipeline, config: FrontConfig) -> None:
    """Serve one terminal until it hangs up, errs or idles; the stream is closed on return."""
    peer = _peer_text(stream)
    async with stream:
        reason = await _Connection(stream, pipeline, config).run()
        if reason in _NOT_FRAMING:
            log.debug("connection_closed", peer=peer, reason=reason)
        else:
            metrics.FRAMING_ERRORS.labels(reason).inc()
            _FRAMING_LOGS[reason](peer=peer, reason=reason)


def _peer_text(stream: SocketStream) -> str:
    """host:port of the terminal, for logs; a peer already gone (reset) has none."""
    try:
        host, port = stream.extra(SocketAttribute.remote_address)[:2]
    except (OSError, anyio.TypedAttributeLookupError):
        return "gone"
    return f"{host}:{port}"


class _Outgoing(msgspec.Struct):
    """An answer in the outbox: its frame, and whether it is an approval that is reversed if
    the terminal does not get it."""

    frame: bytes
    exchange: Exchange
    owes_delivery: bool


class _Connection:
    def __init__(self, stream: SocketStream, pipeline: Pipeline, config: FrontConfig) -> None:
        self._stream = stream
        self._pipeline = pipeline
        self._config = config
        self._in_flight = anyio.Semaphore(config.pipelined_requests_max)
        # Bounded by the semaphore: a slot is released once its answer is written (or not).
        self._outbox: list[_Outgoing] = []
        self._outbox_ready = anyio.Event()
        self._answers_done = False   # every request read has its answer in the outbox
        self._unanswered = 0         # requests read whose answer is not in the outbox yet
        self._all_answered = anyio.Event()   # set when reading is over and none is left
        self._reading = True
        self._group: TaskGroup | None = None
        self._close_reason = CloseReason.PEER_CLOSED
        self._reader = anyio.CancelScope()
        self._closed = False        # by us: answers still due are not written
        self._peer_ended = False    # EOF from the terminal: an approval needs proof it arrived
        self._peer_reset = False    # the terminal reset the connection: nothing more arrives

    async def run(self) -> CloseReason:
        async with anyio.create_task_group() as writer:
            writer.start_soon(self._write_answers)
            async with anyio.create_task_group() as group:
                self._group = group
                with self._reader:
                    reason = await self._read_requests(group)
                    if reason is CloseReason.PEER_CLOSED:
                        # The requests in flight still get their answers (a terminal may
                        # half-close after its last request); each is bounded by
                        # answer_timeout_s.
                        self._peer_ended = True
                    else:
                        await self._close(reason)
                self._reading = False
                if self._unanswered:
                    await self._all_answered.wait()
            self._answers_done = True
            self._outbox_ready.set()
        return self._close_reason

    async def _close(self, reason: CloseReason) -> None:
        """Stop reading and close the socket now; requests in flight finish unwritten (an
        approval among them is reversed) rather than being cancelled half-way."""
        if self._closed:
            return
        self._closed = True
        self._close_reason = reason
        self._reader.cancel()
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()

    async def _read_requests(self, group: TaskGroup) -> CloseReason:
        frames = FrameBuffer(self._config.frame_size_max)
        while True:
            result = await self._read_exchange(frames)
            if isinstance(result, CloseReason):
                return result
            try:
                self._in_flight.acquire_nowait()   # no checkpoint while slots are free
            except anyio.WouldBlock:
                await self._in_flight.acquire()
            self._unanswered += 1
            if not self._submit(result):
                group.start_soon(self._answer, result)

    async def _read_exchange(self, frames: FrameBuffer) -> Exchange | CloseReason:
        """The next request, or why the connection ends. A frame already received is taken at
        once; else two clocks on one cancel scope: idle until a frame starts, then
        frame_complete_timeout_s for the rest of it."""
        try:
            frame = frames.take()
            if frame is None:
                frame = await self._receive_frame(frames)
        except FrameSizeError:
            return CloseReason.FRAME_SIZE
        except TpduError:
            return CloseReason.TPDU
        if isinstance(frame, CloseReason):
            return frame
        tpdu, body = frame
        try:
            message = decode_iso(body)
        except IsoDecodeError:
            return CloseReason.ISO
        if len(answer_mti(message["t"])) != 4:
            return CloseReason.ANSWER_MTI
        arrived_at = anyio.current_time()
        return Exchange(
            tpdu=tpdu, message=message, body=body, received_at_ns=time.time_ns(),
            arrived_at=arrived_at, deadline=arrived_at + self._config.answer_timeout_s,
        )

    async def _receive_frame(self, frames: FrameBuffer) -> tuple[Tpdu, bytes] | CloseReason:
        started = len(frames) > 0
        timeout_s = self._config.frame_complete_timeout_s if started else \
            self._config.idle_timeout_s
        with anyio.move_on_after(timeout_s) as clock:
            while True:
                try:
                    frames.feed(await self._stream.receive())
                except _PEER_GONE:
                    return CloseReason.TRUNCATED if len(frames) else CloseReason.PEER_CLOSED
                if not started:
                    started = True
                    clock.deadline = anyio.current_time() + \
                        self._config.frame_complete_timeout_s
                frame = frames.take()
                if frame is not None:
                    return frame
        return CloseReason.FRAME_TIMEOUT if started else CloseReason.IDLE

    def _submit(self, exchange: Exchange) -> bool:
        """The hot path: no task, the answer comes by callback. False: take `_answer`."""
        try:
            return self._pipeline.submit(
                exchange, functools.partial(self._emit, exchange), self._spawn)
        except Exception:
            return False   # `_answer` meets the same bug and answers 96

    def _spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        assert self._group is not None
        self._group.start_soon(work)

    async def _answer(self, exchange: Exchange) -> None:
        """Process one request the slow way (a task that waits) and emit its answer."""
        try:
            fields = await self._pipeline.process(exchange)
        except Exception:
            fields = failed_request_fields(exchange)
        self._emit(exchange, fields)

    def _emit(self, exchange: Exchange, fields: IsoMessage) -> None:
        """Put a request's answer in the outbox; its in-flight slot is the writer's to release
        from then on. Called once per request read."""
        try:
            body, code = encode_answer(exchange.message, fields)
            frame = encode_frame(exchange.tpdu.swapped(), body)
        except Exception:
            log.exception("answer_failed", request=exchange.key_text())
            self._in_flight.release()
        else:
            owes_delivery = code == ResponseCode.APPROVED and exchange.mti in REVERSED_MTIS
            self._outbox.append(_Outgoing(frame, exchange, owes_delivery))
            self._outbox_ready.set()
        self._unanswered -= 1
        if not self._unanswered and not self._reading:
            self._all_answered.set()

    async def _write_answers(self) -> None:
        """The writer: everything in the outbox in one write, until the last answer is out.
        Delivered, as far as TCP can tell: written, and for an approval written after the
        terminal's EOF, not answered by a reset. Else a 0200 approval is reversed."""
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready = anyio.Event()
            batch, self._outbox = self._outbox, []
            if batch:
                await self._deliver(batch)
            elif self._answers_done:
                return

    async def _deliver(self, batch: list[_Outgoing]) -> None:
        try:
            peer_ended = self._peer_ended
            delivered = not (self._closed or self._peer_reset) and \
                await self._write(b"".join(outgoing.frame for outgoing in batch))
            owed = any(outgoing.owes_delivery for outgoing in batch)
            if delivered and peer_ended and owed and await self._reset_seen():
                self._peer_reset = delivered = False
            now = anyio.current_time()
            for outgoing in batch:
                if delivered:
                    metrics.ANSWER_LATENCY.observe(now - outgoing.exchange.arrived_at)
                elif outgoing.owes_delivery:
                    await self._pipeline.reverse_undelivered(outgoing.exchange)
        finally:
            for _ in batch:
                self._in_flight.release()

    async def _write(self, data: bytes) -> bool:
        try:
            with anyio.fail_after(self._config.answer_write_timeout_s):
                await self._stream.send(data)
            return True
        except _WRITE_ERRORS:
            await self._close(CloseReason.WRITE_FAILED)
            return False

    async def _reset_seen(self) -> bool:
        """A terminal that closed (rather than half-closed) resets the connection when our data
        reaches it: watch for that for undelivered_check_s."""
        sock = self._stream.extra(SocketAttribute.raw_socket)
        with anyio.move_on_after(self._config.undelivered_check_s):
            while not _is_reset(sock):
                await anyio.sleep(_RESET_POLL_S)
            return True
        return False


def _is_reset(sock: socket.socket) -> bool:
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            return True
        tcp_info = getattr(socket, "TCP_INFO", None)
        return tcp_info is not None and \
            sock.getsockopt(socket.IPPROTO_TCP, tcp_info, 1)[0] == _TCP_CLOSE
    except OSError:
        return True
