"""`jifen notify`'s service: one sender per partition (central's, then each other one's, side by
side, so that a partition out of reach holds up only its own events), its transport,
readiness and drain."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import anyio
from anyio.abc import TaskStatus

from notifications.config import NotifyConfig
from notifications.errors import PartitionsChanged
from notifications.partitions_watch import watch_partitions
from notifications.sender import CENTRAL_NAME_DEFAULT, Sender
from notifications.webhook import PrintTransport, Transport, WebhookTransport
from proto.drain import Drain
from proto.health import Readiness


def transport_of(config: NotifyConfig) -> Transport:
    if config.webhook_url is None:
        return PrintTransport()
    return WebhookTransport(config.webhook_url, config.request_timeout_s)


async def run_notify(
    config: NotifyConfig, url: str, others: Mapping[str, str] | None = None,
    central_name: str = CENTRAL_NAME_DEFAULT, *, health: Readiness, drain: Drain,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Deliver every partition's events until the drain is asked: central's outbox on `url`,
    each other partition's on its URL in `others` (name -> URL, the opt-outs read on `url`).
    The events being recorded are finished first (the attempts are not: they are sent again
    by the next start, at least once). Ready while central's database is connected: every
    partition's events need its opt-outs; a partition out of reach shows in the metrics. A
partition added (or removed) while it runs ends it (PartitionsChanged), so that its
supervisor starts it again with every partition's URL."""
    transport = transport_of(config)
    connected = [False]
    health.add_check("database", lambda: (connected[0], "connected" if connected[0]
                                          else "no database connection"))
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(partial(Sender(config, transport, name=central_name).run, url,
                                     connected=connected))
            for name, partition_url in (others or {}).items():
                group.start_soon(Sender(config, transport, name=name, central=False).run,
                                 partition_url, url)
            group.start_soon(watch_partitions, url, {central_name, *(others or {})})
            task_status.started(config.metrics_port)
            await drain.wait()
            group.cancel_scope.cancel()
    except* PartitionsChanged as changed:   # the error itself, for the command's message
        raise changed.exceptions[0] from None
