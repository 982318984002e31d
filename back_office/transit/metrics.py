"""The driver's metrics: what an SRE alerts on is a transfer that stays open (a partition's
host or its replication down) and a transfer stuck (a void refused)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from back_office.transit.driver import Backlog

OPEN = Gauge("jifen_transfers_open", "Transfers between partitions not in a final state")
STUCK = Gauge("jifen_transfers_stuck",
              "Transfers between partitions whose void was refused: points in transit until an"
              " operator acts")
OLDEST_OPEN_AGE = Gauge("jifen_transfer_oldest_open_age_seconds",
                        "Age of the oldest transfer between partitions not in a final state")
MOVED = Counter("jifen_transfer_transitions_total",
                "Transitions of transfers between partitions taken by the driver")
PASS_SECONDS = Histogram("jifen_transfer_pass_seconds",
                         "One pass of the driver over the open transfers",
                         buckets=(0.001, 0.005, 0.02, 0.1, 0.5, 2.0, 10.0))


def observe(backlog: Backlog, moved: int, pass_s: float) -> None:
    OPEN.set(backlog.open)
    STUCK.set(backlog.stuck)
    OLDEST_OPEN_AGE.set(backlog.oldest_s)
    MOVED.inc(moved)
    PASS_SECONDS.observe(pass_s)
