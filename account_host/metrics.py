"""Prometheus metrics of the account host (prefix jifen_host_).

The writer updates them once per batch, so the hot path costs one counter increment per
request. The composition root serves the default registry on `HostConfig.metrics_port`.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import Counter, Gauge, Histogram

from proto.codes import ResponseCode
from proto.messages import MTI_LABEL_OTHER, mti_label

# Response codes come from the host itself, but a label is bounded all the same: the spec's
# codes, anything else counted as "other".
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
DATABASE_UP = Gauge(
    "jifen_host_database_up",
    "1 while the host's connection to PostgreSQL (its LISTEN, probed when idle) is open; 0 "
    "while it reconnects")
RRNS_UNRESERVED = Gauge(
    "jifen_host_rrns_unreserved",
    "RRNs left in the host's partition's ranges beyond its last reserved block, as of that"
    " reservation (at 0 the host answers 96: `jifen partition rrns` adds a range)")
# The risk review queue (risk_reviews, migration 034), read by the change listener at each
# probe of its idle connection: its own names, as the queue is the alliance's, not the host's.
# Each host reads its own partition's database, which holds the reviews it raised: the series
# carry the partition (the host's name), and the alliance's queue is their sum over hosts.
RISK_REVIEWS_OPEN = Gauge(
    "jifen_risk_reviews_open", "Risk reviews open (jifen risk queue), by alliance, in this"
    " host's partition", ["alliance", "partition"])
RISK_REVIEW_OLDEST_AGE = Gauge(
    "jifen_risk_review_oldest_age_seconds",
    "Age of the oldest open risk review, by alliance, in this host's partition (0: none open)",
    ["alliance", "partition"])
STATE_LOADS = Counter(
    "jifen_host_state_loads", "Loads of the whole state, at start and after a failed batch")


def requests(mti: str, response_code: str) -> Counter:
    """The counter child of one MTI and response code, looked up once. The MTI comes from the
    link: one the spec does not know is labelled "other" (`proto.messages.mti_label`), as is a
    response code it does not define, so the series (and this cache) stay bounded."""
    code = str(response_code)
    return _requests(mti_label(mti), code if code in _RESPONSE_CODES else MTI_LABEL_OTHER)


@cache
def _requests(mti: str, response_code: str) -> Counter:
    """Looked up once per pair; the pairs are bounded by requests()."""
    return REQUESTS.labels(mti=mti, response_code=response_code)
