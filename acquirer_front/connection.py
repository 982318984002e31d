"""One terminal connection, as an asyncio Protocol: frames are cut and submitted in the
transport's data callback, answers are written from the pipeline's callback.

Why a Protocol and not an AnyIO stream: on this 2-core VM every sleep and wake of a process
is expensive, so at moderate load (each request alone on its connection) a request through
the stream cost a cancel scope with a timer per read, a task switch to a writer task, and a
checkpoint per send: py-spy put AnyIO at 35-48% of the front's CPU at 2,000 requests/s. Here a
request costs one callback in and one write out; the rest of the front (task groups for the
slow paths, the links, store-and-forward) stays AnyIO.

Requests are pipelined up to `pipelined_requests_max` in flight: past it, reading pauses (TCP
pushes back on the terminal) until an answer frees a slot, and frames already received wait in
the buffer. A request takes no task: the pipeline checks it and sends it on, and its answer
comes back by callback (a sign-on, or a request store-and-forward must settle, runs as a task of
the listener). Answers that arrive together (one link batch) go out in one write, once per
loop iteration. Any framing error closes the connection at once, with nothing posted;
requests in flight go on to their answers, which are no longer written.

Timeouts use one timer per connection, re-armed only when it fires early: a frame only moves
a timestamp. Idle: no frame started within idle_timeout_s (not counted while reading is paused
for slots); a started frame must complete within frame_complete_timeout_s; a terminal that
does not take its answers (the transport's buffer not drained) for answer_write_timeout_s is
dropped; a connection that has had no answer but the front's refusals of its sender (12, 30,
58, 03, A0) within sign_on_wait_s of its accept is closed (a stranger's connection).

An approval of a 0200 that the terminal does not get is reversed (issue 8): the connection was
closed before its write, the write did not drain, or the terminal had ended its side of the
connection and reset it when the approval reached it. A terminal that only half-closed (and
still reads) gets its answer as before. The write buffer's high-water mark is 0, so the
transport says (pause/resume_writing) exactly when written answers have reached the kernel.

A bridge's connection (the TLS listener, `server.py`) differs in two points the TLS layer
imposes. Its write buffer is the TLS layer's (data not yet encrypted or not yet handed to the
socket's transport, whose own buffer is not seen), and that layer pauses at size >= high where
a plain transport pauses at size > high: a mark of 1 says what 0 says of a plain transport (0
paused a bridge from each request read until its answer was written, and answer_write_timeout_s
dropped it while it waited for a slow answer). And TLS has no half-close: the peer's EOF shuts
the connection both ways, so answers still due are not written (an approval among them is
reversed, as the bridge also reverses one it does not get).

A drain (the front is stopping, `server.py`) first lets a connection go on as it is, and closes
it right after the answer that leaves nothing in flight: its terminal has just had its answer and
is the least likely to be writing, so no request is caught on its way in by the close. Then
(`stop_reading`) it takes no more frames: one with nothing in flight closes at once, the others
once what they took is answered. A request still unread then was never seen by the front (its
terminal, without an answer, reverses it; the host never saw it either).

A bug (an AssertionError, or any exception that is not one of the typed errors handled here) ends
the front, for its supervisor to restart it from the database, rather than cost one request or
one connection: work spawned on the listener raises in its task group, and a bug in a loop
callback of this Protocol, which the loop would only log, is handed to `Listener.fail`, whose
task re-raises it. The `try` around each callback costs nothing until it raises.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Any, Protocol, cast

import anyio
import msgspec
import structlog

from acquirer_front import metrics
from acquirer_front.answer import encode_answer
from acquirer_front.config import FrontConfig
from acquirer_front.exchange import Exchange
from acquirer_front.limits import SampledLog
from acquirer_front.pipeline import Pipeline
from acquirer_front.request_ids import RequestIds
from acquirer_front.saf.entries import REVERSED_MTIS
from proto.codes import ResponseCode, answer_mti
from proto.errors import FrameSizeError, IsoDecodeError, TpduError
from proto.frame_buffer import FrameBuffer
from proto.framing import Tpdu, encode_frame
from proto.iso_codec import IsoMessage, decode_iso

log = structlog.get_logger("acquirer_front.connection")

# While watching for a terminal's reset after an approval written past its EOF: a kernel state,
# so it is polled; 10 ms is well below a terminal's patience and costs nothing on this rare path.
_RESET_POLL_S = 0.01
_TCP_CLOSE = 7   # Linux tcp_states.h: what a reset leaves the socket in
# A TLS transport pauses its writer at size >= high (a plain one at size > high): 1 is "not
# empty", as 0 is for a plain transport.
_TLS_WRITE_HIGH = 1


class Listener(Protocol):
    """What a connection needs of the listener that accepted it."""

    def admit(self, connection: TerminalConnection, transport: asyncio.Transport) -> bool:
        """Count the connection in; False when it was refused (the transport is closed)."""

    def closed(self, connection: TerminalConnection) -> None:
        """An admitted connection's transport is gone (called once)."""

    def spawn(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run what must wait (a sign-on, a reversal) as a task of the listener."""

    def fail(self, exc: Exception) -> None:
        """A bug met in a loop callback: the listener's task re-raises it (the front ends)."""


class CloseReason(StrEnum):
    PEER_CLOSED = "peer_closed"       # between frames: a normal end
    IDLE = "idle"                     # no frame started within idle_timeout_s
    SIGN_ON_WAIT = "sign_on_wait"     # no request past the terminal checks in sign_on_wait_s
    WRITE_FAILED = "write_failed"     # the terminal does not take its answers
    DRAINED = "drained"               # the front is stopping, and this terminal had its answers
    # Framing errors (counted by reason):
    FRAME_SIZE = "frame_size"         # LEN above frame_size_max or below a TPDU and an MTI
    TPDU = "tpdu"                     # TPDU not starting with 0x60
    ISO = "iso"                       # body not decodable as ISO 8583
    ANSWER_MTI = "answer_mti"         # an MTI whose +10 is not an MTI (9990 and above)
    TRUNCATED = "truncated"           # the peer hung up inside a frame
    FRAME_TIMEOUT = "frame_timeout"   # a frame started but not completed in time


_NOT_FRAMING = frozenset({CloseReason.PEER_CLOSED, CloseReason.IDLE, CloseReason.WRITE_FAILED,
                          CloseReason.SIGN_ON_WAIT, CloseReason.DRAINED})
# Answers that say the front does not know or trust the sender: they do not end the wait for a
# terminal (sign_on_wait_s). Any other answer means a registered, signed-on (or signing-on)
# terminal of its merchant, with its MAC, sent the request.
_STRANGER_CODES = frozenset({
    ResponseCode.INVALID_TRANSACTION, ResponseCode.FORMAT_ERROR,
    ResponseCode.TERMINAL_NOT_ALLOWED, ResponseCode.MERCHANT_INVALID, ResponseCode.MAC_FAILED,
})
# A hostile peer can make framing errors as fast as it can connect: each is counted, but the
# warning is sampled per reason so that it cannot fill the disk.
_FRAMING_LOGS = {reason: SampledLog(log.warning, "framing_error")
                 for reason in CloseReason if reason not in _NOT_FRAMING}
# This process's request ids: every request read gets the next.
_next_request_id = RequestIds().next


class _Outgoing(msgspec.Struct):
    """An answer on its way out: its frame, and whether it is an approval that is reversed if
    the terminal does not get it."""

    frame: bytes
    exchange: Exchange
    owes_delivery: bool


class TerminalConnection(asyncio.Protocol):
    """One accepted terminal."""

    def __init__(self, pipeline: Pipeline, config: FrontConfig, listener: Listener) -> None:
        self._pipeline = pipeline
        self._config = config
        self._listener = listener
        self._spawn = listener.spawn
        self._admitted = False
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self.peer = "gone"
        self._frames = FrameBuffer(config.frame_size_max)
        self._in_flight = 0               # requests read whose slot is not released yet
        self._reading_paused = False      # for want of a slot
        self._outbox: list[_Outgoing] = []
        self._flush_scheduled = False
        self._unconfirmed: list[_Outgoing] = []   # written, not yet drained to the kernel
        self._write_paused_at: float | None = None
        self._reset_checks = 0            # answers held while looking for a reset
        self._last_frame_at = self._loop.time()
        # Until a request passes the terminal checks, the connection must do so by this time.
        self._stranger_until: float | None = self._last_frame_at + config.sign_on_wait_s
        self._frame_started_at: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._close_reason = CloseReason.PEER_CLOSED
        self._tls = False           # a bridge's connection: no half-close (module docstring)
        self._closed = False        # by us: answers still due are not written
        self._peer_ended = False    # EOF from the terminal: an approval needs proof it arrived
        self._draining = False      # the front is stopping (module docstring)
        # Close once nothing is in flight: after the terminal's EOF, or while draining.
        self._ending = False
        self._lost = False          # the transport is gone
        self._write_failed = False  # dropped for not draining: unconfirmed answers are lost

    # ---- transport callbacks ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, but have its methods.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        try:
            if not self._listener.admit(self, transport):
                self._closed = True
                return
            self._admitted = True
            self._tls = transport.get_extra_info("ssl_object") is not None
            # Paused while anything written is not yet the kernel's (over TLS: the TLS layer's).
            transport.set_write_buffer_limits(high=_TLS_WRITE_HIGH if self._tls else 0, low=0)
            peername = transport.get_extra_info("peername")
            if peername:
                self.peer = f"{peername[0]}:{peername[1]}"
            self._arm_timer()
        except Exception as exc:   # a bug: the front ends (see the module's docstring)
            self._listener.fail(exc)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            frames = self._frames
            if not len(frames):
                self._frame_started_at = self._loop.time()
            frames.feed(data)
            self._take_frames()
        except Exception as exc:   # a bug: the front ends (see the module's docstring)
            self._listener.fail(exc)

    def eof_received(self) -> bool:
        """The terminal ended its side: requests in flight still get their answers (it may
        have half-closed after its last request), each bounded by answer_timeout_s."""
        try:
            if len(self._frames):
                self._close(CloseReason.TRUNCATED)
                return False
            if self._tls:
                self._closed = True   # the TLS layer shuts both ways: nothing more is written
                return False
            self._peer_ended = self._ending = True
            self._close_when_done()
        except Exception as exc:   # a bug: the front ends (see the module's docstring)
            self._listener.fail(exc)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if not self._admitted:
            return
        try:
            if not self._closed:
                self._closed = True
                if len(self._frames):
                    self._close_reason = CloseReason.TRUNCATED
            if self._timer is not None:
                self._timer.cancel()
            # Written before the transport went: drained to the kernel on a clean close.
            unconfirmed, self._unconfirmed = self._unconfirmed, []
            self._settle(unconfirmed, delivered=exc is None and not self._write_failed)
            if self._outbox:
                self._flush()
            self._report_close()
            self._listener.closed(self)
        except Exception as failure:   # a bug: the front ends (see the module's docstring)
            self._listener.fail(failure)

    def abort(self) -> None:
        """Drop the connection now (the front is stopping)."""
        if self._transport is not None:
            self._transport.abort()

    def drain(self) -> None:
        """The front is stopping: close right after the answer that leaves nothing in flight."""
        # Nothing more now: idle, it waits for its terminal's next request (or
        # `stop_reading`); busy, `_release` closes it after the answer that empties it.
        self._draining = self._ending = True

    def stop_reading(self) -> None:
        """The drain's second step: take no more frames (those received and not taken are
        dropped, unseen), and close once what was taken is answered."""
        self._draining = self._ending = True
        if self._closed:
            return
        if not self._reading_paused:
            self._transport.pause_reading()   # type: ignore[union-attr]
        self._reading_paused = False   # so that no released slot resumes it
        self._frames = FrameBuffer(self._config.frame_size_max)
        self._frame_started_at = None
        self._close_when_done()

    def pause_writing(self) -> None:
        self._write_paused_at = self._loop.time()
        try:
            self._arm_timer()
        except Exception as exc:   # a bug: the front ends (see the module's docstring)
            self._listener.fail(exc)

    def resume_writing(self) -> None:
        self._write_paused_at = None
        unconfirmed, self._unconfirmed = self._unconfirmed, []
        try:
            self._confirm(unconfirmed)
        except Exception as exc:   # a bug: the front ends (see the module's docstring)
            self._listener.fail(exc)

    # ---- requests ----

    def _take_frames(self) -> None:
        """Submit the frames received, while slots are free."""
        frames = self._frames
        limit = self._config.pipelined_requests_max
        while self._in_flight < limit and not self._closed:
            try:
                frame = frames.take()
            except FrameSizeError:
                return self._close(CloseReason.FRAME_SIZE)
            except TpduError:
                return self._close(CloseReason.TPDU)
            if frame is None:
                break
            self._last_frame_at = now = self._loop.time()
            self._frame_started_at = now if len(frames) else None
            exchange = self._exchange(*frame, now)
            if isinstance(exchange, CloseReason):
                return self._close(exchange)
            self._in_flight += 1
            # The hot path: no task, the answer comes by callback; else `_answer` takes it.
            if not self._pipeline.submit(
                    exchange, functools.partial(self._emit, exchange), self._spawn):
                self._spawn(functools.partial(self._answer, exchange))
        if self._in_flight >= limit and not self._reading_paused and not self._closed:
            self._reading_paused = True
            self._transport.pause_reading()   # type: ignore[union-attr]
        elif self._frame_started_at is not None:
            self._arm_timer()

    def _exchange(self, tpdu: Tpdu, body: bytes, now: float) -> Exchange | CloseReason:
        try:
            message = decode_iso(body)
        except IsoDecodeError:
            return CloseReason.ISO
        if len(answer_mti(message["t"])) != 4:
            return CloseReason.ANSWER_MTI
        return Exchange(
            tpdu=tpdu, message=message, body=body, received_at_ns=time.time_ns(),
            arrived_at=now, deadline=now + self._config.answer_timeout_s,
            request_id=_next_request_id(),
        )

    async def _answer(self, exchange: Exchange) -> None:
        """Process one request the slow way (a task that waits) and emit its answer. Every line
        logged in this task (the sign-on's writes, store-and-forward) carries its id."""
        with structlog.contextvars.bound_contextvars(request_id=exchange.request_id):
            self._emit(exchange, await self._pipeline.process(exchange))

    # ---- answers ----

    def _emit(self, exchange: Exchange, fields: IsoMessage) -> None:
        """Queue a request's answer for the next flush. Called once per request read: from
        `_take_frames`, the link's reader, the upstream's sweeper or a task of the listener,
        each of which ends the front on a bug raised here."""
        # An answer that does not fit the spec is already a 96 (encode_answer), and the spec
        # bounds an answer far below the 64 KiB of LEN.
        body, code = encode_answer(exchange.message, fields, exchange.request_id)
        if code not in _STRANGER_CODES:
            self._stranger_until = None  # a known terminal: only the other clocks run
        frame = encode_frame(exchange.tpdu.swapped(), body)
        owes_delivery = code == ResponseCode.APPROVED and exchange.mti in REVERSED_MTIS
        self._outbox.append(_Outgoing(frame, exchange, owes_delivery))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Everything queued in one write. Delivered, as far as TCP can tell: drained to the
        kernel, and for an approval written after the terminal's EOF, not answered by a
        reset."""
        self._flush_scheduled = False
        batch, self._outbox = self._outbox, []
        if not batch:
            return
        try:
            if self._closed or self._lost:
                self._settle(batch, delivered=False)
                return
            transport = self._transport
            assert transport is not None
            transport.write(b"".join(outgoing.frame for outgoing in batch))
            if transport.get_write_buffer_size():
                self._unconfirmed.extend(batch)   # resume_writing confirms them
            else:
                self._confirm(batch)
        except Exception as exc:   # a bug: the front ends (see the module's docstring)
            self._listener.fail(exc)

    def _confirm(self, batch: list[_Outgoing]) -> None:
        """Answers that reached the kernel: an approval written past the terminal's EOF is
        delivered only if no reset comes back."""
        if self._peer_ended and any(outgoing.owes_delivery for outgoing in batch):
            self._reset_checks += len(batch)
            self._spawn(functools.partial(self._check_reset, batch))
        else:
            self._settle(batch, delivered=True)

    async def _check_reset(self, batch: list[_Outgoing]) -> None:
        delivered = not await self._reset_seen()
        self._reset_checks -= len(batch)
        self._settle(batch, delivered=delivered)

    def _settle(self, batch: list[_Outgoing], *, delivered: bool) -> None:
        """The end of these answers' way: latency observed, or an approval's reversal owed;
        their slots are free."""
        if not batch:
            return
        if delivered:
            now = self._loop.time()
            for outgoing in batch:
                metrics.ANSWER_LATENCY.observe(now - outgoing.exchange.arrived_at)
        else:
            for outgoing in batch:
                if outgoing.owes_delivery:
                    self._spawn(functools.partial(
                        self._pipeline.reverse_undelivered, outgoing.exchange))
        self._release(len(batch))

    def _release(self, slots: int) -> None:
        self._in_flight -= slots
        if self._reading_paused and not self._closed:
            self._reading_paused = False
            self._last_frame_at = self._loop.time()   # the idle clock restarts
            self._transport.resume_reading()   # type: ignore[union-attr]
            self._take_frames()
        self._close_when_done()

    def _close_when_done(self) -> None:
        """After the terminal's EOF, or while draining, the connection ends with its last
        answer (draining, not under a frame half received)."""
        if self._ending and not self._in_flight and not self._reset_checks \
                and not self._closed and not len(self._frames):
            if not self._peer_ended:
                self._close_reason = CloseReason.DRAINED
            self._closed = True
            self._transport.close()   # type: ignore[union-attr]

    # ---- closing and timeouts ----

    def _close(self, reason: CloseReason) -> None:
        """Stop reading and close now; requests in flight finish unwritten (an approval among
        them is reversed) rather than being cancelled half-way."""
        if self._closed:
            return
        self._closed = True
        self._close_reason = reason
        transport = self._transport
        assert transport is not None
        if reason is CloseReason.WRITE_FAILED:
            self._write_failed = True
            transport.abort()
        else:
            transport.close()

    def _report_close(self) -> None:
        reason = self._close_reason
        if reason in _NOT_FRAMING:
            log.debug("connection_closed", peer=self.peer, reason=reason)
        else:
            metrics.FRAMING_ERRORS.labels(reason).inc()
            _FRAMING_LOGS[reason](peer=self.peer, reason=reason)

    def _deadline(self) -> tuple[float, CloseReason] | None:
        """The earliest clock running, and what its expiry means."""
        config = self._config
        clocks: list[tuple[float, CloseReason]] = []
        if self._stranger_until is not None:
            clocks.append((self._stranger_until, CloseReason.SIGN_ON_WAIT))
        if self._write_paused_at is not None:
            clocks.append((self._write_paused_at + config.answer_write_timeout_s,
                           CloseReason.WRITE_FAILED))
        if self._reading_paused or self._peer_ended:
            pass   # not waiting for the terminal
        elif self._frame_started_at is not None:
            clocks.append((self._frame_started_at + config.frame_complete_timeout_s,
                           CloseReason.FRAME_TIMEOUT))
        else:
            clocks.append((self._last_frame_at + config.idle_timeout_s, CloseReason.IDLE))
        return min(clocks) if clocks else None

    def _arm_timer(self) -> None:
        """Make sure the timer fires no later than the earliest deadline."""
        if self._closed:
            return
        deadline = self._deadline()
        if deadline is None:
            return
        at = deadline[0]
        if self._timer is not None:
            if self._timer_at <= at:
                return   # fires first, and re-arms for the rest
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        try:
            deadline = self._deadline()
            if deadline is not None and deadline[0] <= self._loop.time():
                self._close(deadline[1])
            else:
                self._arm_timer()
        except Exception as exc:   # a bug: the front ends (see the module's docstring)
            self._listener.fail(exc)

    async def _reset_seen(self) -> bool:
        """A terminal that closed (rather than half-closed) resets the connection when our data
        reaches it: watch for that for undelivered_check_s."""
        transport = self._transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        with anyio.move_on_after(self._config.undelivered_check_s):
            while not (self._lost or sock is None or _is_reset(sock)):
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
