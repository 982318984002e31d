"""Connection limits of the terminal listener: how many connections in total and per source
address, and a log of refusals that a flood cannot turn into a flood of log lines.

The other limits of a connection (idle timeout, a deadline to complete a started frame, the
pipelined requests in flight) are enforced by `connection.py`; all are `FrontConfig` fields
and documented for operators in docs/reliability.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

# A hostile or broken peer can open connections faster than anyone reads logs: one line per
# this many seconds (with the count of refusals in between) says enough.
REFUSAL_LOG_INTERVAL_S = 10.0


class RefusalReason(StrEnum):
    """Why a connection was closed as soon as it was accepted (a metric label)."""

    CONNECTIONS_MAX = "connections_max"                        # the front is full
    CONNECTIONS_PER_SOURCE_MAX = "connections_per_source_max"  # that address holds its share
    PEER_NAME = "peer_name"   # (bridge listener) the client's certificate names no bridge


class ConnectionLimits:
    """Open connections in total and per source address. `admit` counts a connection in when
    it is within both limits; every admitted connection must be `release`d exactly once.

    Sources with no open connection are forgotten, so the map is bounded by connections_max.
    """

    def __init__(self, connections_max: int, connections_per_source_max: int) -> None:
        assert connections_max > 0 and connections_per_source_max > 0
        self._connections_max = connections_max
        self._per_source_max = connections_per_source_max
        self._by_source: dict[str, int] = {}
        self.open_count = 0

    def admit(self, source: str) -> RefusalReason | None:
        if self.open_count >= self._connections_max:
            return RefusalReason.CONNECTIONS_MAX
        held = self._by_source.get(source, 0)
        if held >= self._per_source_max:
            return RefusalReason.CONNECTIONS_PER_SOURCE_MAX
        self._by_source[source] = held + 1
        self.open_count += 1
        return None

    def release(self, source: str) -> None:
        held = self._by_source[source]
        assert held > 0 and self.open_count > 0
        if held == 1:
            del self._by_source[source]
        else:
            self._by_source[source] = held - 1
        self.open_count -= 1

    def held_by(self, source: str) -> int:
        return self._by_source.get(source, 0)


class SampledLog:
    """Emits the first event, then at most one per interval_s, carrying how many were not
    logged since the last line (`suppressed`); the metric counts every one regardless."""

    def __init__(
        self, emit: Callable[..., Any], event: str, interval_s: float = REFUSAL_LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._event = event
        self._interval_s = interval_s
        self._clock = clock
        self._last_at: float | None = None
        self._suppressed = 0

    def __call__(self, **fields: object) -> bool:
        """Log this event unless one was logged within interval_s; True when it was logged."""
        now = self._clock()
        if self._last_at is not None and now - self._last_at < self._interval_s:
            self._suppressed += 1
            return False
        self._emit(self._event, suppressed=self._suppressed, **fields)
        self._last_at = now
        self._suppressed = 0
        return True
