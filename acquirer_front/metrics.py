"""Prometheus metrics of the front (default registry; the composition root exposes them)."""

from prometheus_client import Counter, Gauge, Histogram

from proto.messages import KNOWN_MTIS

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
    "jifen_front_refused_connections", "Connections closed at once: connections_max reached.",
)
FRAMING_ERRORS = Counter(
    "jifen_front_framing_errors", "Connections closed on a framing error, by reason.", ["reason"],
)
UPSTREAM_LINK_UP = Gauge("jifen_front_upstream_link_up", "1 while the switch link is up.")


def mti_label(mti: str) -> str:
    """Known MTIs by name; anything else as one label, so a terminal cannot blow up series."""
    return mti if mti in KNOWN_MTIS else "other"
