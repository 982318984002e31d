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
    # Retransmissions are recognised for this long (the spec's 7 days).
    retransmission_window_days: int = 7
    commit_timeout_s: float = 10.0
