"""What the bridge did, kept in a bounded log that tests (and an operator's tools) can wait on.

Every event is also logged; this log exists so that a test waits for "the reversal settled"
instead of sleeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

import anyio
import msgspec

# Events kept: a test looks at the last few; a long-running bridge must not grow.
EVENTS_KEPT_MAX = 1_000


class PortReady(msgspec.Struct, frozen=True, tag=True):
    port: str  # initialised, waiting for RING


class CallEnded(msgspec.Struct, frozen=True, tag=True):
    port: str
    speed_bps: int
    reason: str  # carrier_lost, idle, bad_frames, not_delivered, line_error
    requests: int  # forwarded to the front
    delivered: int  # answers the terminal ACKed
    hangup: str | None  # how the bridge hung up: dtr, escape; None when the line dropped


class PortFailed(msgspec.Struct, frozen=True, tag=True):
    port: str
    error: str


class ReversalSettled(msgspec.Struct, frozen=True, tag=True):
    terminal: str
    stan: str
    outcome: str  # approved, unknown_original, refused, gave_up
    response_code: str | None
    attempts: int


BridgeEvent = PortReady | CallEnded | PortFailed | ReversalSettled


class EventLog:
    def __init__(self, kept_max: int = EVENTS_KEPT_MAX) -> None:
        self._events: deque[BridgeEvent] = deque(maxlen=kept_max)
        self._changed = anyio.Event()
        # Each port's last word on itself: True once initialised (PortReady), False after a
        # PortFailed; bounded by the configured ports. For the bridge's readiness.
        self.port_ready: dict[str, bool] = {}

    def __iter__(self) -> Iterator[BridgeEvent]:
        return iter(tuple(self._events))

    def record(self, event: BridgeEvent) -> None:
        self._events.append(event)
        if isinstance(event, PortReady | PortFailed):
            self.port_ready[event.port] = isinstance(event, PortReady)
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    def matching(self, predicate: Callable[[BridgeEvent], bool]) -> list[BridgeEvent]:
        return [event for event in self._events if predicate(event)]

    async def wait_for(self, predicate: Callable[[BridgeEvent], bool], timeout_s: float,
                       count: int = 1) -> list[BridgeEvent]:
        """The first `count` events that match, waiting up to `timeout_s` for them."""
        with anyio.fail_after(timeout_s):
            while True:
                found = self.matching(predicate)
                if len(found) >= count:
                    return found[:count]
                await self._changed.wait()
