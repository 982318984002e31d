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
    # A terminal that does not read its answers holds a writer; past this it is dropped.
    answer_write_timeout_s: float = 10.0
    # Accepted connections the kernel queues before we take them: a burst of reconnecting
    # terminals after a network blip should not see refusals.
    listen_backlog: int = 1024
    # The switch link: connecting, probing an idle link, and reconnecting after a loss.
    link_connect_timeout_s: float = 3.0
    link_echo_interval_s: float = 5.0
    link_echo_timeout_s: float = 3.0
    link_backoff_min_s: float = 0.05
    link_backoff_max_s: float = 2.0
    # At start, terminals are accepted once the switch link is up or after this long: a front
    # started with its switch should not answer 91 to the first terminals for want of a wait.
    link_startup_wait_s: float = 3.0
    # Every database call (registry load, sign-on state write); a slow database must not
    # hold a sign-on answer past the terminal's own timeout.
    database_timeout_s: float = 5.0
    # Connections for sign-on state writes: sign-ons are rare, two cover bursts after a blip.
    sessions_pool_size_max: int = 2
    # Retry of the registry's LISTEN connection after a loss (doubling up to this).
    registry_backoff_max_s: float = 5.0
    # Benchmarks only (`jifen loadtest`'s bare front ceiling): answer 0800 echo (70=301) from a
    # registered terminal with 00 here, after the front's checks, without the switch and host.
    answer_echo_locally: bool = False
