"""Settings of the account host."""

import msgspec


class HostConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str = "main"
    listen_host: str = "127.0.0.1"
    listen_port: int = 8585
    metrics_port: int = 9103
    # Requests in one group commit: bounds the statement's arrays and the latency of its batch.
    batch_size_max: int = 2_000
    # How long the writer waits for more requests before committing a non-full batch.
    # 0 commits whatever is queued as soon as the previous commit is done.
    batch_wait_ms_max: float = 0.0
    # Requests queued for the writer; when full, link readers wait (back-pressure to the switch).
    queue_requests_max: int = 20_000
    # Identifier blocks reserved per database round trip (RRN, ids); unused rest is skipped.
    id_block_size: int = 10_000
    # Retransmissions are recognised for this long (the spec's 7 days); so are the originals
    # of reversals, and the tombstones of reversals whose original never came.
    retransmission_window_days: int = 7
    # A purchase may be returned (0200/200000 naming its RRN) for this many UTC days after the
    # day it was posted: a shop's usual return period. Its index costs about 65 bytes a
    # purchase in memory (returns_index.py), so 90 days of 10^6 purchases a day take ~6 GB.
    return_window_days: int = 90
    commit_timeout_s: float = 10.0
    # Opening a connection to PostgreSQL (writer or LISTEN); a restarting server may be slow.
    connect_timeout_s: float = 10.0
    # Loading the whole state (10^6 cards take a few seconds) at start and after a failure.
    load_timeout_s: float = 120.0
    # Each query of the LISTEN connection (probes, loading new cards or merchants).
    database_timeout_s: float = 10.0
    # Waits between attempts to reach a database that is down or restarting.
    reconnect_backoff_s_min: float = 0.05
    reconnect_backoff_s_max: float = 2.0
    # An idle LISTEN connection is probed this often, so a lost one (and its missed
    # notifications) is noticed and caught up within this time.
    listen_probe_interval_s: float = 5.0
    # Cards loaded at start: far more than a host's 10^6 cards is a data error that would also
    # exhaust memory (about 250 bytes a card).
    cards_max: int = 20_000_000
