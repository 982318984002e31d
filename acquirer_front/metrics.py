"""Prometheus metrics of the front (default registry; the composition root exposes them)."""

from prometheus_client import Counter, Gauge, Histogram

from proto.messages import mti_label

REQUESTS = Counter(
    "jifen_front_requests", "Terminal requests answered, by MTI and response code (field 39).",
    ["mti", "response_code"],
)
# From the frame's last byte read to the answer's write: what the terminal waits for.
ANSWER_LATENCY = Histogram(
    "jifen_front_answer_latency_seconds", "Time from a request's arrival to its answer.",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0),
)
OPEN_CONNECTIONS = Gauge("jifen_front_open_connections", "Terminal connections open.")
REFUSED_CONNECTIONS = Counter(
    "jifen_front_refused_connections",
    "Connections closed as soon as accepted, by limit (connections_max, "
    "connections_per_source_max) or check (peer_name: a bridge listener's client "
    "certificate).",
    ["reason"],
)
FRAMING_ERRORS = Counter(
    "jifen_front_framing_errors", "Connections closed on a framing error, by reason.", ["reason"],
)
UPSTREAM_LINK_UP = Gauge("jifen_front_upstream_link_up", "1 while the switch link is up.")
DATABASE_UP = Gauge(
    "jifen_front_database_up",
    "1 while the registry's connection to PostgreSQL (its LISTEN) is open; 0 while it "
    "reconnects.",
)


_REQUEST_COUNTERS: dict[tuple[str, str], Counter] = {}


def request_counter(mti: str, code: str) -> Counter:
    """The REQUESTS child of (MTI, response code), looked up once: a hot-path counter. The
    cache is bounded like the series: known MTIs (else "other") times response codes."""
    key = (mti_label(mti), code)
    counter = _REQUEST_COUNTERS.get(key)
    if counter is None:
        counter = _REQUEST_COUNTERS[key] = REQUESTS.labels(*key)
    return counter


# ---- store-and-forward of reversal advices (issue 8) ----
SAF_QUEUED = Counter(
    "jifen_front_saf_queued", "0420s made durable in the store-and-forward queue, by origin.",
    ["origin"],
)
SAF_NOT_STORED = Counter(
    "jifen_front_saf_not_stored",
    "0420s the store could not make durable in time (logged as reversal_not_stored).",
)
SAF_SENT = Counter("jifen_front_saf_sent", "0420s sent from the store-and-forward queue.")
SAF_SETTLED = Counter(
    "jifen_front_saf_settled",
    "Rows settled by the host: acknowledged (00 or 25) or refused (any other final code).",
    ["outcome"],
)
SAF_PENDING = Gauge("jifen_front_saf_pending", "Rows of the queue not yet acknowledged.")
SAF_OLDEST_AGE = Gauge(
    "jifen_front_saf_oldest_age_seconds", "Age of the oldest pending row (0 when none).",
)
