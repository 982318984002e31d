"""Settings of the switch.

Bounds (`Meta`) are checked when the configuration file is loaded; `__post_init__` checks the
relations between fields, also for a SwitchConfig built in code.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta

from proto.link_codec import LINK_MESSAGE_SIZE_MAX
from proto.settings import (
    Address,
    FilePath,
    HostName,
    LinkConnections,
    LinkIdleTimeout,
    LinkMessageSize,
    PeerName,
    Port,
    check_address,
    check_not_above,
)


class SwitchConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # Settings renamed since an earlier release: a file that still uses the old name is refused
    # with the new one.
    renamed_fields: ClassVar[dict[str, str]] = {
        "reconnect_backoff_min_s": "reconnect_backoff_s_min",
        "reconnect_backoff_max_s": "reconnect_backoff_s_max",
    }

    listen_host: str = "127.0.0.1"
    listen_port: Port = 8584
    metrics_port: Port = 9102
    # Account hosts by name (card_ranges.host_name) -> "host:port"; at least one.
    hosts: Annotated[dict[HostName, Address], Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: {"main": "127.0.0.1:8585"})
    # Frames without a card (sign-on, echo, reconciliation) go to this host, one of `hosts`.
    default_host: HostName = "main"
    # Past this a pending frame is dropped; the front has answered 91 by then.
    host_answer_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 10.0
    # On SIGTERM (a drain, docs/reliability.md): the switch stops accepting links, tells its
    # fronts it is closing (they hold new requests until it is back), forwards the hosts'
    # answers to what it had forwarded, then exits 0. Above host_answer_timeout_s, so that a
    # slow host's last answers still arrive; past it the switch stops as if killed (the front
    # answers 91 and reverses). 0: no drain, stop at once.
    drain_timeout_s: Annotated[float, Meta(ge=0, le=300)] = 15.0
    # An idle host link is probed this often, and dropped when a probe is not answered in time
    # (before the next probe is due: timeout <= interval).
    echo_interval_s: Annotated[float, Meta(gt=0, le=3_600)] = 5.0
    echo_timeout_s: Annotated[float, Meta(gt=0, le=3_600)] = 3.0
    reconnect_backoff_s_min: Annotated[float, Meta(gt=0, le=60)] = 0.05
    reconnect_backoff_s_max: Annotated[float, Meta(gt=0, le=3_600)] = 2.0
    connect_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 3.0
    # At start, how long to wait for the host links before serving fronts (0: not at all); with
    # several hosts, also for each host's retransmission key digests (key_window_s of keys:
    # about 1 s per 10^6 at the host), so that a retransmission goes where its original went.
    host_startup_wait_s: Annotated[float, Meta(ge=0, le=300)] = 5.0
    # ---- retransmission keys (several hosts only; docs/operations.md) ----
    # How long the switch remembers which host a card frame's key went to: far past a
    # terminal's retries and the front's answer_timeout_s; the host's own window is 7 days.
    key_window_s: Annotated[int, Meta(ge=60, le=86_400)] = 900
    # Keys held at most (8 bytes each: 400 MB); past it the oldest minute goes early, and
    # jifen_switch_key_window_seconds shows the shorter window. 5,000 frames/s for 900 s is
    # 4.5 * 10^6.
    keys_max: Annotated[int, Meta(ge=1_000, le=1_000_000_000)] = 50_000_000
    # Frames in flight to one host; beyond it new frames get 91 (the host is overloaded).
    pending_requests_max: Annotated[int, Meta(ge=1, le=10_000_000)] = 100_000
    # Card ranges are re-read this often even without a notification: heals a NOTIFY missed
    # while the LISTEN connection was being re-established, at the cost of one small query.
    card_ranges_check_interval_s: Annotated[float, Meta(gt=0, le=86_400)] = 30.0
    # Connecting to PostgreSQL, and each query on the LISTEN connection.
    database_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 10.0
    # Wait between attempts to re-open a lost LISTEN connection; routing goes on meanwhile.
    database_retry_interval_s: Annotated[float, Meta(gt=0, le=3_600)] = 1.0
    # ---- the links' mutual TLS (`jifen pki init` creates these files; docs/security.md) ----
    # The switch's own certificate (name "switch", what fronts expect) and key, and the CA.
    tls_cert_file: FilePath = "var/pki/switch.crt"
    tls_key_file: FilePath = "var/pki/switch.key"
    tls_ca_file: FilePath = "var/pki/ca.crt"
    # The name an account host's certificate must carry (`[pki] host_name`), unless
    # `host_tls_names` names one for that host: with several hosts, give each its own
    # certificate (`jifen pki init --name host-east`), so that one host's stolen key cannot
    # answer for another's cards.
    host_tls_name: PeerName = "host"
    host_tls_names: dict[HostName, PeerName] = msgspec.field(default_factory=dict)
    # Names a link client's certificate must carry: only fronts talk to the switch.
    link_peer_names: Annotated[tuple[PeerName, ...], Meta(min_length=1)] = ("front",)
    # ---- what one link peer may hold ----
    # A switch has a few fronts, each with one link (and one more while it reconnects).
    link_connections_max: LinkConnections = 64
    # A front probes a quiet link every link_echo_interval_s (5 s): a minute of silence is a
    # dead or hostile peer holding a slot.
    link_idle_timeout_s: LinkIdleTimeout = 60.0
    # A batch of 4,096 frames is under 1 MiB; a bigger length is refused before it is buffered.
    link_message_size_max: LinkMessageSize = LINK_MESSAGE_SIZE_MAX

    def __post_init__(self) -> None:
        if self.default_host not in self.hosts:
            raise ValueError(f"default_host {self.default_host!r} is not one of the hosts "
                             f"{sorted(self.hosts)}")
        for name, address in self.hosts.items():
            check_address(f"hosts.{name}", address)
        unknown = sorted(set(self.host_tls_names) - set(self.hosts))
        if unknown:
            raise ValueError(f"host_tls_names names hosts that are not in hosts: {unknown}")
        check_not_above(self, "echo_timeout_s", "echo_interval_s")
        check_not_above(self, "reconnect_backoff_s_min", "reconnect_backoff_s_max")
