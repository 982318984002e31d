"""Prometheus metrics of the internal links (prefix jifen_link_), shared by every service that
serves or opens links; the label `link` is the server's or client's name (host, switch, ...)."""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import Counter, Gauge


class Closed(StrEnum):
    """Why a link connection was closed by us (label `reason`)."""

    CONNECTIONS_MAX = "connections_max"      # the server had link_connections_max already
    PEER_NAME = "peer_name"                  # the client's certificate names no allowed peer
    IDLE_TIMEOUT = "idle_timeout"            # nothing received for link_idle_timeout_s
    MESSAGE_SIZE = "message_size"            # a message over link_message_size_max
    MALFORMED = "malformed"                  # a message that does not decode
    TLS_REFUSED = "tls_refused"              # (client) the server's certificate failed its check


CONNECTIONS_CLOSED = Counter(
    "jifen_link_connections_closed",
    "Link connections closed by a limit or a check, by link and reason", ["link", "reason"])
CONNECTIONS_OPEN = Gauge(
    "jifen_link_connections_open", "Accepted link connections open, by link", ["link"])


def closed(link: str, reason: Closed) -> None:
    CONNECTIONS_CLOSED.labels(link=link, reason=reason.value).inc()


def open_connections(link: str) -> int:
    """The accepted connections open on the link server `link` (for a service's status)."""
    for family in CONNECTIONS_OPEN.collect():
        for sample in family.samples:
            if sample.labels.get("link") == link:
                return int(sample.value)
    return 0
