"""Settings of the acquirer front. Every limit's name carries its unit, then its qualifier
(`saf_backoff_s_max`), and a reason.

Bounds (`Meta`) are checked when the configuration file is loaded; `__post_init__` checks the
relations between fields, also for a FrontConfig built in code.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta

from proto.framing import FRAME_SIZE_MIN
from proto.keys.kek import KEK_ENV_VAR, KEK_FILE_DEFAULT
from proto.link_codec import LINK_MESSAGE_SIZE_MAX
from proto.settings import (
    Address,
    EnvironmentName,
    FilePath,
    LinkMessageSize,
    PeerName,
    Port,
    check_address,
    check_not_above,
)


class FrontConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # Settings renamed since an earlier release: a file that still uses the old name is refused
    # with the new one.
    renamed_fields: ClassVar[dict[str, str]] = {
        "link_backoff_min_s": "link_backoff_s_min",
        "link_backoff_max_s": "link_backoff_s_max",
        "registry_backoff_max_s": "registry_backoff_s_max",
        "saf_backoff_min_s": "saf_backoff_s_min",
        "saf_backoff_max_s": "saf_backoff_s_max",
    }

    listen_host: str = "127.0.0.1"
    listen_port: Port = 8583
    switch_address: Address = "127.0.0.1:8584"
    metrics_port: Port = 9101
    # A terminal's own timeout is typically 30-60 s; answering 91 well before it lets the
    # terminal show a clear decline instead of its own timeout. Past 5 minutes every terminal
    # has long given up.
    answer_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 10.0
    # On SIGTERM (a drain, docs/reliability.md): the front closes its listener; each open
    # connection is closed right after the answer that leaves it with nothing in flight (the
    # moment its terminal, which just got its answer, is least likely to be sending). After
    # drain_idle_wait_s the connections stop reading: one with nothing in flight closes then,
    # the others once what they read is answered. The front exits 0 when every connection is
    # closed and every reversal owed is stored, by drain_timeout_s at most: above
    # drain_idle_wait_s + answer_timeout_s + database_timeout_s (16 s), so that a request read
    # at the last moment still gets its answer, or its 91 and stored reversal. Past it the
    # front stops as if killed (terminals reverse what they had no answer to). 0: no drain.
    drain_timeout_s: Annotated[float, Meta(ge=0, le=600)] = 20.0
    # A terminal that sends steadily sends within a second: its connection closes after that
    # answer instead of under a request it is sending.
    drain_idle_wait_s: Annotated[float, Meta(ge=0, le=60)] = 1.0
    # The spec's LEN limit; larger frames are a framing error. LEN is two bytes, and a frame
    # holds at least a TPDU and an MTI.
    frame_size_max: Annotated[int, Meta(ge=FRAME_SIZE_MIN, le=65_535)] = 2048
    # Pipelined requests one terminal may have unanswered; beyond it reading pauses.
    pipelined_requests_max: Annotated[int, Meta(ge=1, le=100_000)] = 64
    # A frame started must be complete within this time (slow senders hold a connection).
    frame_complete_timeout_s: Annotated[float, Meta(gt=0, le=3_600)] = 10.0
    # A connection with no traffic at all is closed after this long (at most a day).
    idle_timeout_s: Annotated[float, Meta(gt=0, le=86_400)] = 300.0
    # Frames waiting for the switch link; past it the front answers 91 at once.
    upstream_queue_max: Annotated[int, Meta(ge=1, le=10_000_000)] = 10_000
    # One file descriptor each; a million is past any process's limit.
    connections_max: Annotated[int, Meta(ge=1, le=1_000_000)] = 10_000
    # A terminal that does not read its answers holds its slots; past this it is dropped.
    answer_write_timeout_s: Annotated[float, Meta(gt=0, le=3_600)] = 10.0
    # Accepted connections the kernel queues before we take them: a burst of reconnecting
    # terminals after a network blip should not see refusals. The kernel caps it at
    # net.core.somaxconn, 65,535 on most systems.
    listen_backlog: Annotated[int, Meta(ge=1, le=65_535)] = 1024
    # The switch link: connecting, probing an idle link, and reconnecting after a loss. A
    # probe is answered before the next is due (echo timeout <= interval).
    link_connect_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 3.0
    link_echo_interval_s: Annotated[float, Meta(gt=0, le=3_600)] = 5.0
    link_echo_timeout_s: Annotated[float, Meta(gt=0, le=3_600)] = 3.0
    link_backoff_s_min: Annotated[float, Meta(gt=0, le=60)] = 0.05
    link_backoff_s_max: Annotated[float, Meta(gt=0, le=3_600)] = 2.0
    # At start, terminals are accepted once the switch link is up or after this long: a front
    # started with its switch should not answer 91 to the first terminals for want of a wait.
    # 0 accepts them at once.
    link_startup_wait_s: Annotated[float, Meta(ge=0, le=300)] = 3.0
    # Every database call (registry load, sign-on state write); a slow database must not
    # hold a sign-on answer past the terminal's own timeout.
    database_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 5.0
    # Connections for sign-on state writes: sign-ons are rare, two cover bursts after a blip.
    # PostgreSQL's max_connections (100 by default) bounds them.
    sessions_pool_size_max: Annotated[int, Meta(ge=1, le=1_000)] = 2
    # Retry of the registry's LISTEN connection after a loss (doubling up to this).
    registry_backoff_s_max: Annotated[float, Meta(gt=0, le=3_600)] = 5.0
    # Benchmarks only (`jifen loadtest`'s bare front ceiling): answer 0800 echo (70=301) from a
    # registered terminal with 00 here, after the front's checks, without the switch and host.
    answer_echo_locally: bool = False
    # ---- store-and-forward of reversal advices (0420, issue 8; table front_saf) ----
    # New rows commit in one statement per batch (group commit) of at most this many; a host
    # outage at full load turns every request into a row, and one commit each would not keep up.
    saf_store_batch_max: Annotated[int, Meta(ge=1, le=1_000_000)] = 1_000
    # Rows waiting for that commit; past it a failure path waits (bounded by
    # database_timeout_s, then the row is logged as not stored).
    saf_store_queue_max: Annotated[int, Meta(ge=1, le=10_000_000)] = 20_000
    # Rows the sender claims, holds in memory and sends in one link batch; the batch must fit
    # in upstream_queue_max, or it is never sent.
    saf_send_batch_max: Annotated[int, Meta(ge=1, le=1_000_000)] = 200
    # Resends of an unacknowledged row: doubling from min to max, so a host down for an hour
    # gets one attempt a minute per row, not a flood when it comes back (max at most a day).
    saf_backoff_s_min: Annotated[float, Meta(gt=0, le=3_600)] = 1.0
    saf_backoff_s_max: Annotated[float, Meta(gt=0, le=86_400)] = 60.0
    # With nothing due, the sender looks again after this long (a new row wakes it at once);
    # also how often the backlog metrics are refreshed.
    saf_poll_interval_s: Annotated[float, Meta(gt=0, le=3_600)] = 1.0
    # Connections of the store: the batch writer and the sender.
    saf_pool_size_max: Annotated[int, Meta(ge=1, le=1_000)] = 2
    # Settled rows stay for operators (`jifen saf list --all`) this long, then are deleted
    # (ten years at most: an audit's longest retention).
    saf_retention_days: Annotated[int, Meta(ge=1, le=3_660)] = 30
    # An approval written after the terminal ended its side of the connection: how long to
    # watch for the reset that says it had closed rather than half-closed (a few round trips).
    undelivered_check_s: Annotated[float, Meta(gt=0, le=60)] = 1.0
    # Connections from one source address. A shop's router or a carrier's NAT puts many
    # terminals behind one address; 256 covers a large shop or a small NAT, and the load
    # test's fleet (64 by default) and the tests, which all connect from 127.0.0.1. Lower
    # than the 1,000 of 1.1: one host without any key must not hold a tenth of
    # connections_max. Past it, that address's new connections are closed at once.
    connections_per_source_max: Annotated[int, Meta(ge=1, le=1_000_000)] = 256
    # A connection none of whose requests has passed the terminal checks (12, 30, 58, 03,
    # A0) within this long is closed: a terminal signs on, or sends its request, within
    # seconds of connecting, and anonymous connections must not sit out idle_timeout_s.
    sign_on_wait_s: Annotated[float, Meta(gt=0, le=3_600)] = 30.0
    # Where the key-encryption key (KEK) that seals TMKs and MAC session keys comes from: the
    # environment variable named here when it is set (hex), else this file (created with a
    # random key, mode 0600, on first use). Relative paths are from the working directory.
    kek_env: EnvironmentName = KEK_ENV_VAR
    kek_file: FilePath = KEK_FILE_DEFAULT
    # ---- the links' mutual TLS (`jifen pki init` creates these files; docs/security.md) ----
    # The front's own certificate (name "front", what the switch accepts) and key, and the CA.
    tls_cert_file: FilePath = "var/pki/front.crt"
    tls_key_file: FilePath = "var/pki/front.key"
    tls_ca_file: FilePath = "var/pki/ca.crt"
    # The name the switch's certificate must carry: anyone else on its port is refused.
    switch_tls_name: PeerName = "switch"
    # A batch of 4,096 frames is under 1 MiB; a bigger answer message is refused.
    link_message_size_max: LinkMessageSize = LINK_MESSAGE_SIZE_MAX
    # ---- dial-up bridges on other machines (docs/security.md, "The dial-up bridge") ----
    # "host:port" of a second terminal listener, for bridges: mutual TLS with the front's
    # certificate above, the client's certificate checked against bridge_peer_names. Its
    # connections are terminal connections in every other way, within the same limits
    # (connections_max, connections_per_source_max). Unset: no such listener; a bridge on
    # the front's machine uses the terminal port.
    bridge_listen: Address | None = None
    # Names a bridge's client certificate must carry: only dial-up bridges use that listener.
    bridge_peer_names: Annotated[tuple[PeerName, ...], Meta(min_length=1)] = ("dialup",)

    def __post_init__(self) -> None:
        check_address("switch_address", self.switch_address)
        if self.bridge_listen is not None:
            check_address("bridge_listen", self.bridge_listen, listening=True)
            if self.bridge_listen == f"{self.listen_host}:{self.listen_port}" \
                    and self.listen_port:
                raise ValueError(f"bridge_listen {self.bridge_listen!r} is the terminal port "
                                 f"(listen_host:listen_port): the bridges need a port of "
                                 f"their own")
        check_not_above(self, "link_echo_timeout_s", "link_echo_interval_s")
        if self.drain_timeout_s:
            check_not_above(self, "drain_idle_wait_s", "drain_timeout_s")
        check_not_above(self, "link_backoff_s_min", "link_backoff_s_max")
        check_not_above(self, "saf_backoff_s_min", "saf_backoff_s_max")
        check_not_above(self, "saf_send_batch_max", "upstream_queue_max")
