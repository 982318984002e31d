"""Driving a fleet of terminals at a front for one measured window.

Closed loop (`in_flight` per terminal): every answer is replaced by a new request at once, so
the rate is what the system sustains. Open loop (`rate` per second in all): requests leave on a
fixed schedule whatever the answers, and latency counts from each request's scheduled time, so
a system (or generator) that falls behind shows it in the latency instead of hiding it
("coordinated omission").

Phases: connect and sign on; warm-up (answers checked, not measured); the window (measured);
drain (no new requests; the last answers are awaited at most `drain_timeout_s`).
"""

from __future__ import annotations

import gc
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager

import anyio
import msgspec

from loadtest.latency import LatencySummary
from loadtest.mix import Kind
from loadtest.sampling import Skew, card_sampler, weighted_sampler
from loadtest.tally import ErrorSample, Tally
from loadtest.terminal import FleetTerminal

# The open loop's shortest sleep. The event loop's timers count whole milliseconds (uvloop's
# wakes at once below one), so at more than 1,000 requests/s the requests that fell due during
# a sleep leave together, one write per terminal, each counted from its own due time.
OPEN_LOOP_TICK_S = 0.001
PROGRESS_INTERVAL_S = 1.0
# Connecting and signing on a fleet at once; a system that takes longer is not up.
FLEET_SETUP_TIMEOUT_S = 60.0
NS_PER_S = 1_000_000_000

WindowHook = Callable[[str], Awaitable[None]]   # called with "start" and "end"


class DriveSettings(msgspec.Struct, frozen=True):
    duration_s: float
    warmup_s: float = 0.0
    in_flight: int = 8                 # closed loop, per terminal
    rate_per_s: float | None = None    # open loop, all terminals together; None: closed loop
    drain_timeout_s: float = 15.0      # above the front's answer timeout (10 s)
    amount: int = 1_000                # field 4: fen, or points when field 49 is 999
    seed: int = 1
    sign_on: bool = True


class Station(msgspec.Struct, frozen=True):
    terminal_code: str
    merchant_code: str


class ErrorCount(msgspec.Struct, frozen=True):
    kind: str
    code: str         # a response code, or a reason such as "no answer"
    count: int


class KindResult(msgspec.Struct, frozen=True):
    kind: str
    correct: int      # answers with an expected code, in the window
    approved: int     # of which 00
    per_s: float


class PhaseResult(msgspec.Struct, frozen=True):
    """One measured window."""

    name: str
    window_s: float
    sent: int
    answered: int
    approved: int
    approved_per_s: float
    correct_per_s: float
    by_kind: list[KindResult]
    latency: LatencySummary
    errors: list[ErrorCount]
    error_samples: list[ErrorSample]
    generator_cpu_s: float           # this process's CPU time during the window

    @property
    def error_count(self) -> int:
        return sum(error.count for error in self.errors)


async def drive(
    name: str, front: tuple[str, int], stations: Sequence[Station], cards: Sequence[bytes],
    kinds: list[Kind], skew: Skew, settings: DriveSettings, *,
    on_window: WindowHook | None = None, progress: bool = True,
) -> PhaseResult:
    rng = random.Random(settings.seed)
    order = list(cards)
    rng.shuffle(order)  # under Zipf, the hot cards are then a random few
    tally = Tally(kinds)
    terminals = [
        FleetTerminal(station.terminal_code, station.merchant_code, tally,
                      weighted_sampler([kind.weight for kind in kinds], rng), order,
                      card_sampler(len(order), skew, rng), settings.amount,
                      stan_start=rng.randint(1, 900_000))
        for station in stations
    ]
    try:
        await _set_up(terminals, front, settings.sign_on)
        cpu_s = await _run(terminals, tally, settings, on_window, progress, name)
    finally:
        with anyio.CancelScope(shield=True):
            for terminal in terminals:
                await terminal.aclose()
    return _result(name, tally, settings.duration_s, cpu_s)


async def _set_up(terminals: list[FleetTerminal], front: tuple[str, int], sign_on: bool) -> None:
    async def one(terminal: FleetTerminal) -> None:
        await terminal.connect(*front)
        if sign_on:
            await terminal.sign_on()

    with anyio.fail_after(FLEET_SETUP_TIMEOUT_S):
        async with anyio.create_task_group() as group:
            for terminal in terminals:
                group.start_soon(one, terminal)


async def _run(
    terminals: list[FleetTerminal], tally: Tally, settings: DriveSettings,
    on_window: WindowHook | None, progress: bool, name: str,
) -> float:
    """Warm-up, window and drain; the generator's CPU seconds in the window."""
    with _collector_paused():
        return await _drive(terminals, tally, settings, on_window, progress, name)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the fleet runs: a full collection stalled this
    process for up to 80 ms, which the figures would have counted as the system's latency.
    A request's objects are freed by reference counting; the run is bounded."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def _drive(
    terminals: list[FleetTerminal], tally: Tally, settings: DriveSettings,
    on_window: WindowHook | None, progress: bool, name: str,
) -> float:
    started_ns = time.perf_counter_ns()
    tally.window_start_ns = started_ns + int(settings.warmup_s * NS_PER_S)
    tally.window_end_ns = tally.window_start_ns + int(settings.duration_s * NS_PER_S)
    cpu_s = [0.0]
    async with anyio.create_task_group() as group:
        if settings.rate_per_s is None:
            for terminal in terminals:
                group.start_soon(terminal.run_closed_loop, settings.in_flight)
        else:
            for terminal in terminals:
                group.start_soon(terminal.read_answers)
            group.start_soon(_pace, terminals, settings.rate_per_s, started_ns,
                             tally.window_end_ns)
        if progress:
            group.start_soon(_report_progress, name, terminals, tally, started_ns)
        await _sleep_until(tally.window_start_ns)
        cpu_started_s = time.process_time()
        if on_window is not None:
            await on_window("start")
        await _sleep_until(tally.window_end_ns)
        cpu_s[0] = time.process_time() - cpu_started_s
        for terminal in terminals:
            terminal.stop()
        if on_window is not None:
            await on_window("end")
        with anyio.move_on_after(settings.drain_timeout_s):
            for terminal in terminals:
                await terminal.drained.wait()
        group.cancel_scope.cancel()
    for terminal in terminals:
        terminal.abandon()
    return cpu_s[0]


async def _sleep_until(deadline_ns: int) -> None:
    delay_s = (deadline_ns - time.perf_counter_ns()) / NS_PER_S
    if delay_s > 0:
        await anyio.sleep(delay_s)


async def _pace(terminals: list[FleetTerminal], rate_per_s: float, started_ns: int,
                stop_ns: int) -> None:
    """Send every request when it is due, round-robin over the terminals: request i is due at
    started_ns + i / rate, and counts as sent then, however late the generator is."""
    interval_ns = NS_PER_S / rate_per_s
    count = len(terminals)
    sent = 0
    while True:
        now_ns = time.perf_counter_ns()
        if now_ns >= stop_ns:
            return
        due = requests_due(now_ns - started_ns, interval_ns) - sent
        for offset in range(min(due, count)):
            index = sent + offset                      # the first request for this terminal
            terminal = terminals[index % count]
            share = (due - offset + count - 1) // count  # its requests among the `due`
            frames = terminal.build(share, started_ns + int(index * interval_ns),
                                    int(count * interval_ns))
            terminal.send(frames)
        sent += max(due, 0)
        next_due_ns = started_ns + int(sent * interval_ns)
        await anyio.sleep(max((next_due_ns - time.perf_counter_ns()) / NS_PER_S,
                              OPEN_LOOP_TICK_S))


def requests_due(elapsed_ns: int, interval_ns: float) -> int:
    """How many requests of the open loop are due `elapsed_ns` after its start: request i is
    due at i * interval_ns, so the first leaves at once."""
    return int(elapsed_ns // interval_ns) + 1 if elapsed_ns >= 0 else 0


async def _report_progress(name: str, terminals: list[FleetTerminal], tally: Tally,
                           started_ns: int) -> None:
    last_approved = tally.approved_total
    while True:
        await anyio.sleep(PROGRESS_INTERVAL_S)
        now_ns = time.perf_counter_ns()
        phase = "warm-up" if now_ns < tally.window_start_ns else (
            "window" if now_ns < tally.window_end_ns else "drain")
        latency = tally.latency
        in_flight = sum(len(terminal.pending) for terminal in terminals)
        print(f"[{name} {(now_ns - started_ns) / NS_PER_S:5.1f}s {phase:7}] "
              f"{tally.approved_total - last_approved:7,d} approved/s  "
              f"p50 {latency.percentile_ms(50):6.2f} ms  p99 {latency.percentile_ms(99):6.2f} ms"
              f"  errors {tally.error_count:,d}  in flight {in_flight:,d}",
              file=sys.stderr, flush=True)
        last_approved = tally.approved_total


def _result(name: str, tally: Tally, window_s: float, cpu_s: float) -> PhaseResult:
    by_kind = [
        KindResult(kind.name, tally.correct_in_window[index], tally.approved_in_window[index],
                   tally.correct_in_window[index] / window_s)
        for index, kind in enumerate(tally.kinds)
    ]
    approved = sum(tally.approved_in_window)
    errors = [ErrorCount(kind, code, count)
              for (kind, code), count in sorted(tally.errors.items(), key=lambda e: -e[1])]
    return PhaseResult(
        name=name, window_s=window_s, sent=tally.sent, answered=tally.answered,
        approved=approved, approved_per_s=approved / window_s,
        correct_per_s=sum(tally.correct_in_window) / window_s, by_kind=by_kind,
        latency=tally.latency.summary(), errors=errors,
        error_samples=list(tally.error_samples), generator_cpu_s=cpu_s,
    )
