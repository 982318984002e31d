"""`jifen notify`'s service: the sender with its transport, readiness and drain."""

from __future__ import annotations

from functools import partial

import anyio
from anyio.abc import TaskStatus

from notifications.config import NotifyConfig
from notifications.sender import Sender
from notifications.webhook import PrintTransport, Transport, WebhookTransport
from proto.drain import Drain
from proto.health import Readiness


def transport_of(config: NotifyConfig) -> Transport:
    if config.webhook_url is None:
        return PrintTransport()
    return WebhookTransport(config.webhook_url, config.request_timeout_s)


async def run_notify(
    config: NotifyConfig, url: str, *, health: Readiness, drain: Drain,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Deliver until the drain is asked: the event being recorded is finished first (its
    attempt is not: it is sent again by the next start, at least once)."""
    sender = Sender(config, transport_of(config))
    connected = [False]
    health.add_check("database", lambda: (connected[0], "connected" if connected[0]
                                          else "no database connection"))
    async with anyio.create_task_group() as group:
        group.start_soon(partial(sender.run, url, connected=connected))
        task_status.started(config.metrics_port)
        await drain.wait()
        group.cancel_scope.cancel()
