"""Settings of the acquirer front. Every limit carries its unit last and a reason."""

import msgspec


class FrontConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    listen_host: str = "127.0.0.1"
    listen_port: int = 8583
    switch_address: str = "127.0.0.1:8584"
    metrics_port: int = 9101
    # A terminal's own timeout is typically 30-60 s; answering 91 well before it lets the
    # terminal show a clear decline instead of its own timeout.
    answer_timeout_s: float = 10.0
    # The spec's LEN limit; larger frames are a framing error.
    frame_size_max: int = 2048
    # Pipelined requests one terminal may have unanswered; beyond it the reader waits.
    pipelined_requests_max: int = 64
    # A frame started must be complete within this time (slow senders hold a task).
    frame_complete_timeout_s: float = 10.0
    # A connection with no traffic at all is closed after this long.
    idle_timeout_s: float = 300.0
    # Frames waiting for the switch link; past it the front answers 91 at once.
    upstream_queue_max: int = 10_000
    connections_max: int = 10_000
