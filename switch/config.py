"""Settings of the switch."""

import msgspec


class SwitchConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    listen_host: str = "127.0.0.1"
    listen_port: int = 8584
    metrics_port: int = 9102
    # Account hosts by name (card_ranges.host_name) -> "host:port".
    hosts: dict[str, str] = msgspec.field(default_factory=lambda: {"main": "127.0.0.1:8585"})
    # Frames without a card (sign-on, echo, reconciliation) go to this host.
    default_host: str = "main"
    # Past this a pending frame is dropped; the front has answered 91 by then.
    host_answer_timeout_s: float = 10.0
    # An idle host link is probed this often, and dropped when a probe is not answered in time.
    echo_interval_s: float = 5.0
    echo_timeout_s: float = 3.0
    reconnect_backoff_s_min: float = 0.05
    reconnect_backoff_s_max: float = 2.0
    connect_timeout_s: float = 3.0
    # At start, how long to wait for the host links before serving fronts.
    host_startup_wait_s: float = 5.0
    # Frames in flight to one host; beyond it new frames get 91 (the host is overloaded).
    pending_requests_max: int = 100_000
    # Card ranges are re-read this often even without a notification: heals a NOTIFY missed
    # while the LISTEN connection was being re-established, at the cost of one small query.
    card_ranges_check_interval_s: float = 30.0
    # Connecting to PostgreSQL, and each query on the LISTEN connection.
    database_timeout_s: float = 10.0
    # Wait between attempts to re-open a lost LISTEN connection; routing goes on meanwhile.
    database_retry_interval_s: float = 1.0
