"""Settings of the account host.

Bounds (`Meta`) are checked when the configuration file is loaded; `__post_init__` checks the
relations between fields, also for a HostConfig built in code.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta

from proto.keys.kek import KEK_ENV_VAR, KEK_FILE_DEFAULT
from proto.link_codec import LINK_MESSAGE_SIZE_MAX
from proto.settings import (
    EnvironmentName,
    FilePath,
    HostName,
    LinkConnections,
    LinkIdleTimeout,
    LinkMessageSize,
    PeerName,
    Port,
    check_not_above,
)


class HostConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # Settings renamed since an earlier release: a file that still uses the old name is refused
    # with the new one.
    renamed_fields: ClassVar[dict[str, str]] = {
        "reconnect_backoff_min_s": "reconnect_backoff_s_min",
        "reconnect_backoff_max_s": "reconnect_backoff_s_max",
    }

    # The name card ranges give (card_ranges.host_name): the host loads the cards of its own.
    name: HostName = "main"
    # The partition that answers a terminal's sign-on (the switch's `default_host`): it gives
    # a terminal it never saw batch 000001, as the spec's new terminal. Any other partition
    # takes the number a terminal it knows nothing of asks about (docs/plans/partitions.md §3
    # "Open number"). Unset: this host is the default (one host, or partition main itself).
    default_host: HostName | None = None
    listen_host: str = "127.0.0.1"
    listen_port: Port = 8585
    metrics_port: Port = 9103
    # Requests in one group commit: bounds the statement's arrays and the latency of its batch.
    batch_size_max: Annotated[int, Meta(ge=1, le=100_000)] = 2_000
    # How long the writer waits for more requests before committing a non-full batch.
    # 0 commits whatever is queued as soon as the previous commit is done. A second is
    # already a tenth of the front's answer timeout.
    batch_wait_ms_max: Annotated[float, Meta(ge=0, le=1_000)] = 0.0
    # Requests queued for the writer; when full, link readers wait (back-pressure to the switch).
    queue_requests_max: Annotated[int, Meta(ge=1, le=10_000_000)] = 20_000
    # Identifier blocks reserved per database round trip (RRN, ids); unused rest is skipped,
    # so a huge block wastes the 12-digit RRN space at every restart.
    id_block_size: Annotated[int, Meta(ge=1, le=10_000_000)] = 10_000
    # Retransmissions are recognised for this long (the spec's 7 days); so are the originals
    # of reversals, and the tombstones of reversals whose original never came. Each day is
    # held in memory; a quarter is past any terminal's retry.
    retransmission_window_days: Annotated[int, Meta(ge=1, le=92)] = 7
    # A purchase may be returned (0200/200000 naming its RRN) for this many UTC days after the
    # day it was posted: a shop's usual return period. Its index costs about 65 bytes a
    # purchase in memory (returns_index.py), so 90 days of 10^6 purchases a day take ~6 GB;
    # a year and a month is the longest return period a shop gives.
    return_window_days: Annotated[int, Meta(ge=1, le=400)] = 90
    commit_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 10.0
    # On SIGTERM (a drain, docs/reliability.md): the host stops accepting links, tells its
    # switches it is closing, and commits and answers what they sent before they stopped, then
    # exits 0. That takes a batch or two (milliseconds); this bounds it when PostgreSQL is
    # slow, above one commit_timeout_s. Past it the host stops as if killed (the switch
    # answers 91, the front reverses). 0: no drain, stop at once.
    drain_timeout_s: Annotated[float, Meta(ge=0, le=300)] = 15.0
    # Opening a connection to PostgreSQL (writer or LISTEN); a restarting server may be slow.
    connect_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 10.0
    # Loading the whole state (10^6 cards take a few seconds) at start and after a failure.
    load_timeout_s: Annotated[float, Meta(gt=0, le=3_600)] = 120.0
    # Each query of the LISTEN connection (probes, loading new cards or merchants).
    database_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 10.0
    # Waits between attempts to reach a database that is down or restarting.
    reconnect_backoff_s_min: Annotated[float, Meta(gt=0, le=60)] = 0.05
    reconnect_backoff_s_max: Annotated[float, Meta(gt=0, le=3_600)] = 2.0
    # An idle LISTEN connection is probed this often, so a lost one (and its missed
    # notifications) is noticed and caught up within this time.
    listen_probe_interval_s: Annotated[float, Meta(gt=0, le=3_600)] = 5.0
    # Cards loaded at start: far more than a host's 10^6 cards is a data error that would also
    # exhaust memory (about 250 bytes a card: 10^8 take 25 GB).
    cards_max: Annotated[int, Meta(ge=1, le=100_000_000)] = 20_000_000
    # The KEK that opens the host's one data key, pan_lookup (proto/keys: a systemd
    # credential `kek` first, then this variable, then this file); the front's defaults.
    kek_env: EnvironmentName = KEK_ENV_VAR
    kek_file: FilePath = KEK_FILE_DEFAULT
    # ---- the links' mutual TLS (`jifen pki init` creates these files; docs/security.md) ----
    # The host's own certificate (its name, subjectAltName, is what switches expect) and key,
    # and the CA that signs its peers' certificates.
    tls_cert_file: FilePath = "var/pki/host.crt"
    tls_key_file: FilePath = "var/pki/host.key"
    tls_ca_file: FilePath = "var/pki/ca.crt"
    # Names a link client's certificate must carry: only switches talk to a host.
    link_peer_names: Annotated[tuple[PeerName, ...], Meta(min_length=1)] = ("switch",)
    # ---- what one link peer may hold ----
    # A host has a few switches, each with one link (and one more while it reconnects).
    link_connections_max: LinkConnections = 16
    # A switch probes a quiet link every echo_interval_s (5 s): a minute of silence is a dead
    # or hostile peer holding a slot.
    link_idle_timeout_s: LinkIdleTimeout = 60.0
    # A batch of 4,096 frames is under 1 MiB; a bigger length is refused before it is buffered.
    link_message_size_max: LinkMessageSize = LINK_MESSAGE_SIZE_MAX

    def __post_init__(self) -> None:
        check_not_above(self, "reconnect_backoff_s_min", "reconnect_backoff_s_max")

    @property
    def is_default_partition(self) -> bool:
        """Whether this host answers for a terminal it never saw with batch 000001."""
        return self.default_host is None or self.default_host == self.name
