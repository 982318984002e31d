"""The driver's metrics: what an SRE alerts on is a transfer that stays open (a partition's
host or its replication down) and a transfer stuck (a void refused)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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


def observe(open_count: int, stuck: int, oldest_s: float, moved: int, pass_s: float) -> None:
    """One pass of the driver: the open and stuck transfers, the oldest open one's age, the
    transitions it made and how long it took."""
    OPEN.set(open_count)
    STUCK.set(stuck)
    OLDEST_OPEN_AGE.set(oldest_s)
    MOVED.inc(moved)
    PASS_SECONDS.observe(pass_s)
