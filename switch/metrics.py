"""Prometheus metrics of the switch (prefix jifen_switch_).

Gauges that mirror state (link up, pending) are computed when scraped, so the hot path only
increments counters, once per host group of a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import cache

from prometheus_client import Counter, Gauge

from switch.reconciliation import MergeOutcome


class Outcome(StrEnum):
    """What became of a frame from a front (label `outcome`)."""

    FORWARDED = "forwarded"
    UNAVAILABLE_91 = "unavailable_91"        # host link down, or its outbox full
    OVERFLOW_91 = "overflow_91"              # pending_requests_max reached for the host
    UNROUTABLE_91 = "unroutable_91"          # its card range names an unconfigured host
    HOST_DOWN_91 = "host_down_91"            # was pending when the host link went down
    EXPIRED = "expired"                      # no answer within host_answer_timeout_s
    LATE_ANSWER_DROPPED = "late_answer_dropped"  # an answer nobody waits for any more
    FRONT_GONE_DROPPED = "front_gone_dropped"    # answer for a front link that is gone or full


FRAMES = Counter(
    "jifen_switch_frames", "Frames handled by the switch, by destination host and outcome",
    ["host", "outcome"])
HOST_LINK_UP = Gauge("jifen_switch_host_link_up", "1 while the link to the host is up", ["host"])
PENDING = Gauge(
    "jifen_switch_pending_requests", "Requests sent to a host and not yet answered", ["host"])
CARD_RANGES = Gauge("jifen_switch_card_ranges", "Card ranges in the routing table")
DATABASE_UP = Gauge(
    "jifen_switch_database_up",
    "1 while the card ranges' connection to PostgreSQL (its LISTEN) is open; 0 while it "
    "reconnects")
RECONCILIATIONS = Counter(
    "jifen_switch_reconciliations",
    "0500s fanned out to every host (more than one configured), by how their parts merged",
    ["outcome"])
KEY_ROUTED = Counter(
    "jifen_switch_key_routed",
    "Card frames sent to the host their retransmission key went to, not their PAN's (several "
    "hosts)")
KEYS = Gauge("jifen_switch_keys", "Retransmission keys the switch holds (several hosts)")
KEY_WINDOW = Gauge(
    "jifen_switch_key_window_seconds",
    "How far back the switch holds every retransmission key: key_window_s, less after a "
    "restart until every host's digests are in, or past keys_max (several hosts)")
ROUTE_RELOADS = Counter(
    "jifen_switch_route_reloads", "Reads of card_ranges, by outcome (installed, unchanged, failed)",
    ["outcome"])


@cache
def frames(host: str, outcome: Outcome) -> Counter:
    """The counter child of one host and outcome, looked up once."""
    return FRAMES.labels(host=host, outcome=outcome.value)


@cache
def reconciliations(outcome: MergeOutcome) -> Counter:
    """The counter child of one merge outcome, looked up once."""
    return RECONCILIATIONS.labels(outcome=outcome.value)


def watch_host(host: str, link_up: Callable[[], bool], pending: Callable[[], int]) -> None:
    HOST_LINK_UP.labels(host=host).set_function(lambda: 1.0 if link_up() else 0.0)
    PENDING.labels(host=host).set_function(lambda: float(pending()))
