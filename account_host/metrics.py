"""Prometheus metrics of the account host (prefix jifen_host_).

The writer updates them once per batch, so the hot path costs one counter increment per
request. The composition root serves the default registry on `HostConfig.metrics_port`.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import Counter, Gauge, Histogram

from proto.codes import ResponseCode
from proto.messages import KNOWN_MTIS

# The label of any MTI or response code the spec does not define: the MTI comes from the wire,
# and one series per value a peer can invent would grow the registry without bound.
OTHER_LABEL = "other"
_RESPONSE_CODES = frozenset(code.value for code in ResponseCode)

REQUESTS = Counter(
    "jifen_host_requests", "Requests answered by the host, by MTI and response code",
    ["mti", "response_code"])
BATCH_SIZE = Histogram(
    "jifen_host_batch_size", "Requests in one group commit",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000))
COMMIT_SECONDS = Histogram(
    "jifen_host_commit_seconds", "Latency of one group commit (the batch statement)",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0))
QUEUE_DEPTH = Gauge(
    "jifen_host_queue_depth", "Requests waiting for the writer when it takes a batch")
BATCH_FAILURES = Counter(
    "jifen_host_batch_failures", "Batches answered 96 because they could not be made durable")
STATE_LOADS = Counter(
    "jifen_host_state_loads", "Loads of the whole state, at start and after a failed batch")


def requests(mti: str, response_code: str) -> Counter:
    """The counter child of one MTI and response code: the spec's (proto.messages.KNOWN_MTIS,
    proto.codes.ResponseCode), anything else counted as `other`, so that the series are at
    most (7 + 1) x (22 + 1)."""
    return _requests(mti if mti in KNOWN_MTIS else OTHER_LABEL,
                     response_code if response_code in _RESPONSE_CODES else OTHER_LABEL)


@cache
def _requests(mti: str, response_code: str) -> Counter:
    """Looked up once per pair; the pairs are bounded by requests()."""
    return REQUESTS.labels(mti=mti, response_code=response_code)
