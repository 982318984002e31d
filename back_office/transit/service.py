"""`jifen transit drive`'s service: the driver with its readiness and drain."""

from __future__ import annotations

from functools import partial

import anyio
from anyio.abc import TaskStatus

from back_office.transit.config import TransitConfig
from back_office.transit.driver import drive
from proto.drain import Drain
from proto.health import Readiness


async def run_transit(
    config: TransitConfig, url: str, *, health: Readiness, drain: Drain,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Drive until the drain is asked: a transition is one transaction, so cancelling one in
    flight rolls it back whole and the next start takes it again."""
    connected = [False]
    health.add_check("database", lambda: (connected[0], "connected" if connected[0]
                                          else "no database connection"))
    async with anyio.create_task_group() as group:
        group.start_soon(partial(drive, url, config.poll_interval_s, connected=connected))
        task_status.started(config.metrics_port)
        await drain.wait()
        group.cancel_scope.cancel()
