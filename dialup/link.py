"""The framed exchange of one call (host interface §1), for either end of the line.

One reader task (`run`) owns the line's input: it ACKs good frames and queues their payloads,
NAKs bad ones, skips noise, and hands ACK/NAK bytes to the sender. `send_frame` writes a frame
and waits for its ACK, resending after a NAK or `ack_timeout_s`, at most `resends_max` times.
When the reader stops (carrier lost, too many bad frames, line gone) its error is kept, and
every wait, now or later, raises it: callers see one typed reason for the end of the call.
"""

from __future__ import annotations

import contextlib
from typing import Protocol

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from dialup.config import LinkSettings
from dialup.errors import (
    BadFramesError,
    DialupError,
    FrameWaitTimeoutError,
    LinkError,
    NotDeliveredError,
)
from dialup.line import SerialLine
from proto.dialup_framing import (
    ACK,
    NAK,
    ControlReceived,
    DialupDecoder,
    FrameReceived,
    FrameRejected,
    NoiseSkipped,
    encode_dialup_frame,
)

log = structlog.get_logger("dialup.link")

# ACK/NAK bytes kept for the sender; more than a few unclaimed ones are stale anyway.
CONTROLS_QUEUED_MAX = 8


class LinkObserver(Protocol):
    """What a link reports, for metrics; LinkStats counts it in memory."""

    def frame_received(self) -> None: ...
    def frame_rejected(self, reason: str) -> None: ...
    def frame_dropped(self) -> None: ...
    def noise_skipped(self, size: int) -> None: ...
    def nak_received(self) -> None: ...
    def resent(self) -> None: ...


class LinkStats:
    """Counts of one link (or of all links given the same object)."""

    def __init__(self) -> None:
        self.frames_received = 0
        self.frames_rejected: dict[str, int] = {}  # by reason: each got a NAK
        self.frames_dropped = 0
        self.noise_bytes = 0
        self.naks_received = 0
        self.resends = 0

    @property
    def naks_sent(self) -> int:
        return sum(self.frames_rejected.values())

    def frame_received(self) -> None:
        self.frames_received += 1

    def frame_rejected(self, reason: str) -> None:
        self.frames_rejected[reason] = self.frames_rejected.get(reason, 0) + 1

    def frame_dropped(self) -> None:
        self.frames_dropped += 1

    def noise_skipped(self, size: int) -> None:
        self.noise_bytes += size

    def nak_received(self) -> None:
        self.naks_received += 1

    def resent(self) -> None:
        self.resends += 1


class FrameLink:
    def __init__(self, line: SerialLine, settings: LinkSettings,
                 observer: LinkObserver | None = None, *, acknowledge: bool = True) -> None:
        self.line = line
        self.settings = settings
        self.stats = observer if observer is not None else LinkStats()
        self.error: DialupError | None = None
        self.lost_mid_frame = False  # the reader stopped inside a frame
        self._acknowledge = acknowledge  # False only for tests of a terminal that never ACKs
        self._decoder = DialupDecoder(settings.payload_size_max)
        self._bad_in_row = 0
        self._frames_in: MemoryObjectSendStream[bytes]
        self._frames_out: MemoryObjectReceiveStream[bytes]
        self._frames_in, self._frames_out = \
            anyio.create_memory_object_stream[bytes](settings.frames_queued_max)
        self._controls_in: MemoryObjectSendStream[int]
        self._controls_out: MemoryObjectReceiveStream[int]
        self._controls_in, self._controls_out = \
            anyio.create_memory_object_stream[int](CONTROLS_QUEUED_MAX)

    # ---- the reader ------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        """Read the line until the call ends; never raises a DialupError, keeps it."""
        task_status.started()
        try:
            while True:
                await self._read_once()
        except DialupError as exc:
            self.lost_mid_frame = self._decoder.in_frame
            self._stop(exc)

    async def _read_once(self) -> None:
        if self._decoder.in_frame:
            data = await self.line.receive_within(self.settings.inter_byte_timeout_s)
            events = self._decoder.feed(data) if data else [self._decoder.abort()]
        else:
            events = self._decoder.feed(await self.line.receive())
        for event in events:
            await self._handle(event)

    async def _handle(self, event: object) -> None:
        if isinstance(event, FrameReceived):
            self._bad_in_row = 0
            self.stats.frame_received()
            if self._acknowledge:
                await self.line.send(bytes((ACK,)))
            try:
                self._frames_in.send_nowait(event.payload)
            except anyio.WouldBlock:
                self.stats.frame_dropped()  # nobody takes frames: the ACK told the truth
        elif isinstance(event, ControlReceived):
            with contextlib.suppress(anyio.WouldBlock):  # nobody waits: they are stale
                self._controls_in.send_nowait(event.byte)
        elif isinstance(event, NoiseSkipped):
            self.stats.noise_skipped(event.size)
        elif isinstance(event, FrameRejected):
            await self._reject(event)

    async def _reject(self, event: FrameRejected) -> None:
        error = event.error
        if not error.extent_known:
            await self._drain()
        self.stats.frame_rejected(error.reason)
        self._bad_in_row += 1
        log.info("bad frame", port=self.line.name, reason=error.reason, detail=str(error),
                 in_a_row=self._bad_in_row)
        await self.line.send(bytes((NAK,)))
        if self._bad_in_row >= self.settings.bad_frames_max:
            raise BadFramesError(f"{self._bad_in_row} bad frames in a row")

    async def _drain(self) -> None:
        """Skip the rest of a frame whose end we cannot know: until the line goes quiet."""
        while await self.line.receive_within(self.settings.inter_byte_timeout_s):
            pass

    def _stop(self, error: DialupError) -> None:
        if self.error is None:
            self.error = error
        self._frames_in.close()
        self._controls_in.close()

    # ---- the callers -----------------------------------------------------------------------

    def _ended(self) -> DialupError:
        return self.error or LinkError("the link is closed")

    async def receive_frame(self, timeout_s: float | None = None) -> bytes:
        """The next good frame's payload (already ACKed)."""
        try:
            with anyio.fail_after(timeout_s):
                return await self._frames_out.receive()
        except TimeoutError as exc:
            raise FrameWaitTimeoutError(f"no frame within {timeout_s:g} s") from exc
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise self._ended() from None

    async def receive_control(self, timeout_s: float) -> int | None:
        """The next ACK or NAK nobody waited for; None when none comes in time."""
        with anyio.move_on_after(timeout_s):
            try:
                return await self._controls_out.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise self._ended() from None
        return None

    async def send_raw(self, data: bytes) -> None:
        """Bytes on the line as given (framing tests)."""
        if self.error is not None:
            raise self.error
        await self.line.send(data)

    async def send_frame(self, payload: bytes) -> None:
        """Send a frame until it is ACKed; NotDeliveredError after the last resend."""
        frame = encode_dialup_frame(payload, self.settings.payload_size_max)
        self._forget_controls()
        for attempt in range(1 + self.settings.resends_max):
            if self.error is not None:
                raise self.error
            if attempt:
                self.stats.resent()
            await self.line.send(frame)
            control = await self._wait_control()
            if control == ACK:
                return
            if control == NAK:
                self.stats.nak_received()
        raise NotDeliveredError(f"no ACK after {1 + self.settings.resends_max} sends")

    async def _wait_control(self) -> int | None:
        with anyio.move_on_after(self.settings.ack_timeout_s):
            try:
                return await self._controls_out.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise self._ended() from None
        return None

    def _forget_controls(self) -> None:
        """ACKs and NAKs from before this frame answer nothing of it."""
        while True:
            try:
                self._controls_out.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return
