"""The open loop's pacing: every request leaves when it is due, never before, and counts from
its due time."""

from __future__ import annotations

import time

import pytest

from loadtest.drive import NS_PER_S, _pace, requests_due

pytestmark = pytest.mark.anyio


class RecordingTerminal:
    """Stands in for a FleetTerminal: records each request's due time and when it was built."""

    def __init__(self, log: list[tuple[int, int]]) -> None:
        self.log = log

    def build(self, count: int, sent_ns: int, step_ns: int = 0) -> bytes:
        now_ns = time.perf_counter_ns()
        self.log.extend((sent_ns + index * step_ns, now_ns) for index in range(count))
        return b"x" * count

    def send(self, frames: bytes) -> None:
        pass


class TestRequestsDue:
    def test_the_first_request_is_due_at_the_start(self) -> None:
        assert requests_due(0, 10e6) == 1

    def test_a_request_is_due_at_its_instant_not_one_interval_later(self) -> None:
        assert requests_due(10_000_000 - 1, 10e6) == 1
        assert requests_due(10_000_000, 10e6) == 2
        assert requests_due(25_000_000, 10e6) == 3

    def test_nothing_before_the_start(self) -> None:
        assert requests_due(-1, 10e6) == 0


async def test_requests_leave_in_order_never_early_and_the_first_at_once() -> None:
    log: list[tuple[int, int]] = []
    terminals = [RecordingTerminal(log) for _ in range(3)]
    rate_per_s = 400.0
    started_ns = time.perf_counter_ns()
    stop_ns = started_ns + NS_PER_S // 10
    await _pace(terminals, rate_per_s, started_ns, stop_ns)  # type: ignore[arg-type]
    interval_ns = NS_PER_S / rate_per_s
    due_times = sorted(due for due, _ in log)
    assert due_times == [started_ns + int(index * interval_ns) for index in range(len(log))]
    assert all(due <= built for due, built in log), "a request left before it was due"
    first_built = min(built for due, built in log if due == started_ns)
    assert first_built - started_ns < NS_PER_S // 20, "the first request waited for a tick"
    # 40 requests fall due in the 100 ms; a slow box may leave the last few unsent at the stop.
    assert 30 <= len(log) <= 40


async def test_at_a_slow_rate_the_first_request_does_not_wait_an_interval() -> None:
    log: list[tuple[int, int]] = []
    started_ns = time.perf_counter_ns()
    await _pace([RecordingTerminal(log)], 5.0, started_ns,  # type: ignore[list-item]
                started_ns + NS_PER_S // 10)
    assert len(log) == 1   # due at 0; the next is due at 200 ms, after the stop
    assert log[0][1] - started_ns < NS_PER_S // 20
