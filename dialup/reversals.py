"""Reversals the bridge makes for approvals a terminal never got (host interface §1).

An 0200 approved by the host whose answer the terminal did not ACK (carrier lost, no ACK after
the resends), or that the front did not answer at all (the host may have approved it), is
reversed: a 0400 with field 39 = 68 (timeout) and field 90 = the original's MTI, STAN and field
7, its other fields as the original's (`proto.messages.reversal`). It is sent until the host
settles it, 00 (reversed now or before) or 25 (the host never saw the original, and will now
decline it if it comes late), with a doubling backoff and a bounded number of attempts.

Only 0200s are reversed: 0100 and 0800 move nothing, 0500 closes a batch, and a 0220 advice
records a sale the terminal already completed offline: its terminal resends the advice until it
is answered, and reversing it would undo a sale that happened.

Reversals live in memory: if the bridge stops with some unsent, they are logged as not sent
(and the terminal's own reversal, sent on its next call, still covers the member).
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import msgspec
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from dialup import metrics
from dialup.config import ReversalSettings
from dialup.errors import FrontError
from dialup.events import EventLog, ReversalSettled
from dialup.front import FrontEndpoint
from proto.codes import Mti, ResponseCode, answer_mti
from proto.framing import Tpdu
from proto.iso_codec import encode_iso
from proto.messages import reversal, transmission_time
from proto.pan import mask_pan

log = structlog.get_logger("dialup.reversals")

REVERSED_MTIS = frozenset({Mti.FINANCIAL})
REVERSAL_REASON_TIMEOUT = "68"
SETTLED: dict[str, str] = {
    ResponseCode.APPROVED: "approved", ResponseCode.ORIGINAL_NOT_FOUND: "unknown_original",
}
# Answers that another attempt would only repeat.
REFUSED = frozenset({
    ResponseCode.INVALID_TRANSACTION, ResponseCode.FORMAT_ERROR,
    ResponseCode.DUPLICATE_MISMATCH, ResponseCode.MAC_FAILED,
})
# Fields a reversal needs from its original (90 is built from t, 11 and 7).
_NEEDED_FIELDS = ("7", "11", "41", "42")


class ReversalOrder(msgspec.Struct, frozen=True):
    original: dict[str, str]  # the request as the terminal sent it
    tpdu: Tpdu  # the original's, so the front sees the same NIIs
    port: str
    cause: str  # carrier_lost, not_delivered, no_answer


def needs_reversal(original: dict[str, str]) -> bool:
    """True for a request whose approval, undelivered, must be reversed."""
    return original.get("t") in REVERSED_MTIS and all(f in original for f in _NEEDED_FIELDS)


class Reverser:
    def __init__(self, front: FrontEndpoint, settings: ReversalSettings,
                 events: EventLog) -> None:
        self._front = front
        self._settings = settings
        self._events = events
        self._slots = anyio.Semaphore(settings.in_flight_max)
        self._orders_in: MemoryObjectSendStream[ReversalOrder]
        self._orders_out: MemoryObjectReceiveStream[ReversalOrder]
        self._orders_in, self._orders_out = \
            anyio.create_memory_object_stream[ReversalOrder](settings.queued_max)

    async def submit(self, order: ReversalOrder) -> None:
        """Queue a reversal; waits while the queue is full (the port holds its next call)."""
        assert needs_reversal(order.original), order.original.get("t")
        _log_order(order, "reversal queued")
        metrics.REVERSALS.labels("queued").inc()
        await self._orders_in.send(order)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        try:
            async with anyio.create_task_group() as group:
                task_status.started()
                async for order in self._orders_out:
                    await self._slots.acquire()
                    group.start_soon(self._reverse_and_release, order)
        finally:
            self._report_unsent()

    def _report_unsent(self) -> None:
        while True:
            try:
                order = self._orders_out.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return
            metrics.REVERSALS.labels("not_queued").inc()
            _log_order(order, "reversal not sent: the bridge stopped", level="error")

    async def _reverse_and_release(self, order: ReversalOrder) -> None:
        try:
            await self.reverse(order)
        finally:
            self._slots.release()

    async def reverse(self, order: ReversalOrder) -> ReversalSettled:
        """Send the 0400 until settled or out of attempts; the same 0400 every time (its field
        7 too), so that the host sees retransmissions of one reversal."""
        message = reversal(order.original, REVERSAL_REASON_TIMEOUT)
        message["7"] = transmission_time(datetime.now(UTC))
        body = encode_iso(message)
        key = (answer_mti(message["t"]), message["41"], message["11"])
        backoff_s = self._settings.backoff_s_min
        code: str | None = None
        for attempt in range(1, self._settings.attempts_max + 1):
            metrics.REVERSAL_ATTEMPTS.inc()
            code = await self._attempt(order, body, key)
            outcome = SETTLED.get(code) if code else None
            if outcome is None and code in REFUSED:
                outcome = "refused"
            if outcome is not None:
                return self._settle(order, outcome, code, attempt)
            if attempt < self._settings.attempts_max:
                await anyio.sleep(backoff_s)  # a backoff between attempts, not a sync
                backoff_s = min(backoff_s * 2, self._settings.backoff_s_max)
        return self._settle(order, "gave_up", code, self._settings.attempts_max)

    async def _attempt(self, order: ReversalOrder, body: bytes, key: tuple[str, str, str]
                       ) -> str | None:
        """The 0410's field 39, or None when the front could not be asked."""
        try:
            async with self._front.connection() as front:
                answer = await front.exchange(order.tpdu, body, key,
                                              self._settings.answer_timeout_s)
        except FrontError as exc:
            log.warning("reversal attempt failed", terminal=key[1], stan=key[2], error=str(exc))
            return None
        return answer.fields.get("39")

    def _settle(self, order: ReversalOrder, outcome: str, code: str | None,
                attempts: int) -> ReversalSettled:
        metrics.REVERSALS.labels(outcome).inc()
        level = "info" if outcome in SETTLED.values() else "error"
        _log_order(order, f"reversal {outcome}", level=level, response_code=code,
                   attempts=attempts)
        event = ReversalSettled(order.original["41"], order.original["11"], outcome, code,
                                attempts)
        self._events.record(event)
        return event


def _log_order(order: ReversalOrder, event: str, level: str = "info", **extra: object) -> None:
    original = order.original
    getattr(log, level)(
        event, port=order.port, cause=order.cause, terminal=original.get("41"),
        stan=original.get("11"), mti=original.get("t"), processing_code=original.get("3"),
        pan=mask_pan(original.get("2")), amount=original.get("4"), **extra,
    )
