"""A burst of purchases from one terminal with K in flight: an end-to-end rate, quickly.

Declines and timeouts are counted, not raised: the point is to see how the system answers
under load. A lost connection ends the burst (HostConnectionError).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Sequence

import anyio
import msgspec

from devices import messages
from devices.errors import AnswerTimeoutError
from devices.terminal_client import TerminalClient

TIMEOUT_CODE = "timeout"  # counted with the response codes when no answer came in time


class BurstResult(msgspec.Struct, frozen=True):
    count: int
    elapsed_s: float
    rate_per_s: float
    response_codes: dict[str, int]
    latency_ms_p50: float
    latency_ms_p99: float
    latency_ms_max: float


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


async def run_purchase_burst(
    client: TerminalClient, pans: Sequence[str], amount_fen: int, count: int,
    in_flight_max: int, batch_number: int,
) -> BurstResult:
    """`count` purchases cycling over `pans`, keeping `in_flight_max` unanswered at a time."""
    assert pans and count > 0 and in_flight_max > 0, "a burst needs cards, a count and a width"
    indexes = iter(range(count))
    codes: Counter[str] = Counter()
    latencies_s: list[float] = []

    async def worker() -> None:
        for index in indexes:  # shared iterator: each index is taken by one worker
            fields = messages.purchase(pans[index % len(pans)], amount_fen, batch_number)
            try:
                exchange = await client.exchange(fields)
            except AnswerTimeoutError:
                codes[TIMEOUT_CODE] += 1
                continue
            codes[exchange.answer.get("39", "??")] += 1
            latencies_s.append(exchange.elapsed_s)

    started = time.perf_counter()
    async with anyio.create_task_group() as task_group:
        for _ in itertools.repeat(None, min(in_flight_max, count)):
            task_group.start_soon(worker)
    elapsed_s = time.perf_counter() - started
    latencies_s.sort()
    return BurstResult(
        count=count, elapsed_s=elapsed_s,
        rate_per_s=count / elapsed_s if elapsed_s > 0 else 0.0,
        response_codes=dict(sorted(codes.items())),
        latency_ms_p50=_percentile(latencies_s, 0.50) * 1000,
        latency_ms_p99=_percentile(latencies_s, 0.99) * 1000,
        latency_ms_max=(latencies_s[-1] * 1000) if latencies_s else 0.0,
    )
