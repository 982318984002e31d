"""Wiring of the account host: load the state, start the writer and the change listener, then
serve the internal links; runs until cancelled, or, given a drain, until the links are drained.

A drain (`proto.drain`, the first SIGTERM) needs nothing of the writer: the link server stops
accepting, tells each switch it is closing, and closes each link once it has had an answer for
every request it brought (`proto.links`). The writer answers only after a batch has committed,
so by then every batch with those requests in it is durable and answered; the writer is then
given until the deadline to finish any other batch under way (the change listener's items),
and is cancelled with the rest. What a switch sent after it was told is refused by the switch
itself (91, as for a host that is down)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import anyio
import asyncpg
import structlog
from anyio.abc import TaskStatus

from account_host import metrics
from account_host.changes import ChangeListener
from account_host.config import HostConfig
from account_host.database import DATABASE_ERRORS, WriterDatabase
from account_host.errors import StateLoadError
from account_host.idempotency import RetransmissionMemory
from account_host.intake import Intake
from account_host.key_digests import send_key_digests
from account_host.queue_items import QueueItem
from account_host.writer import Writer
from proto.drain import Drain
from proto.health import LinkState, Readiness
from proto.keys import Purpose, load_kek, open_data_keys
from proto.link_metrics import open_connections
from proto.links import LinkServerLimits, serve_links
from proto.tls import ServerTls

log = structlog.get_logger("account_host.service")

# While draining, how often the writer is looked at (only then, for a batch or two).
_DRAIN_POLL_S = 0.01


async def open_pan_lookup_key(config: HostConfig, database_url: str) -> bytes:
    """The host's only data key (KeyStoreError when it does not open under the KEK)."""
    kek = load_kek(config.kek_file, config.kek_env)
    try:
        with anyio.fail_after(config.connect_timeout_s + config.database_timeout_s):
            connection = await asyncpg.connect(database_url, timeout=config.connect_timeout_s)
            try:
                keys = await open_data_keys(connection, kek, [Purpose.PAN_LOOKUP])
            finally:
                await connection.close()
    except DATABASE_ERRORS as exc:
        raise StateLoadError(f"reading the host's data key failed: {exc!r}") from exc
    return keys[Purpose.PAN_LOOKUP]


async def run_host(
    config: HostConfig, database_url: str, *, health: Readiness | None = None,
    drain: Drain | None = None, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve as the account host `config.name`; task_status gets the bound link port.

    Ready (`health`) when its connection to PostgreSQL is open (`database`: the change
    listener's, which reconnects by itself), and the writer has loaded the state and takes
    from its queue (`writer`, `Writer.readiness`)."""
    # First, so that missing certificates are said before the state is loaded.
    tls = ServerTls.from_files(config.tls_cert_file, config.tls_key_file, config.tls_ca_file,
                               config.link_peer_names)
    limits = LinkServerLimits(connections_max=config.link_connections_max,
                              idle_timeout_s=config.link_idle_timeout_s,
                              message_size_max=config.link_message_size_max)
    pan_lookup_key = await open_pan_lookup_key(config, database_url)
    database = WriterDatabase(database_url, config)
    send_queue, receive_queue = anyio.create_memory_object_stream[QueueItem](
        config.queue_requests_max)
    try:
        with send_queue, receive_queue:
            writer = Writer(config, database, receive_queue, pan_lookup_key=pan_lookup_key)
            if health is not None:
                health.add_check("writer", writer.readiness)
                health.add_link("switches", _switch_links)
            await writer.recover()
            assert writer.state is not None
            listener = ChangeListener(config, database_url, send_queue,
                                      writer.state.highest_card_id)
            intake = Intake(send_queue)
            metrics.DATABASE_UP.set_function(lambda: float(listener.connected))
            if health is not None:
                health.add_check("database", partial(_database_readiness, listener, database))
            async with anyio.create_task_group() as group:
                group.start_soon(writer.run)
                await group.start(listener.run)
                port = await group.start(partial(
                    _serve_links, group, writer, drain, partial(
                        serve_links, config.listen_host, config.listen_port,
                        intake.on_requests, name="host", tls=tls, limits=limits, drain=drain,
                        on_keys_wanted=partial(send_key_digests,
                                               partial(_retransmissions, writer)))))
                log.info("host_serving", host=config.name, port=port)
                task_status.started(port)
    finally:
        database.close()


async def _serve_links(group: anyio.abc.TaskGroup, writer: Writer, drain: Drain | None,
                       serve: Callable[..., Awaitable[None]], *,
                       task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
    """The links until they are drained (they are served until cancelled without a drain),
    then the writer until it is idle: then the rest of the host stops with them."""
    await serve(task_status=task_status)
    assert drain is not None and drain.asked
    with anyio.move_on_after(max(0.0, drain.deadline - anyio.current_time())):
        while not writer.is_idle:
            await anyio.sleep(_DRAIN_POLL_S)
    log.info("host_drained", writer_idle=writer.is_idle)
    group.cancel_scope.cancel()


def _retransmissions(writer: Writer) -> RetransmissionMemory | None:
    """The writer's memory as it is now (a failed batch reloads the state)."""
    return None if writer.state is None else writer.state.retransmissions


def _switch_links() -> LinkState:
    """The switches' links to this host: shown, not a check (a switch connects when it can)."""
    count = open_connections("host")
    return LinkState("switches", count > 0, f"{count} connected")


def _database_readiness(listener: ChangeListener, database: WriterDatabase,
                        ) -> tuple[bool, str]:
    """The LISTEN connection follows the server: it reconnects by itself and probes an idle
    one. The writer's own, lost while idle, is opened again by the next batch."""
    writer = "open" if database.is_open else "reopened by the next batch"
    if listener.connected:
        return True, f"connected (the writer's connection: {writer})"
    return False, "no connection to PostgreSQL (reconnecting)"
