"""Running one service process: logging, metrics endpoint, uvloop, and a clean stop on signals."""

from __future__ import annotations

import gc
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import prometheus_client
import structlog

from runtime.config import Config
from runtime.logging import configure_logging

log = structlog.get_logger("runtime.service")

ServiceMain = Callable[..., Coroutine[Any, Any, None]]


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("stopping", signal=signal.Signals(signum).name)
            scope.cancel()
            return


async def _serve(name: str, service: ServiceMain, *args: object) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(_stop_on_signal, group.cancel_scope)
        port = await group.start(service, *args)
        # What start-up built (the host's state: every card, the retransmission window) lives
        # as long as the process: out of the collector's sight, a full collection no longer
        # walks it, which took tens of milliseconds, a stall every request in flight waited for.
        gc.collect()
        gc.freeze()
        log.info("started", service=name, port=port)


def run_service(
    name: str, config: Config, metrics_port: int, service: ServiceMain, *args: object
) -> int:
    """Run `service(*args, task_status=...)` until SIGTERM or SIGINT; 0 on a clean stop."""
    configure_logging(config.log.level, process=name)
    if metrics_port:
        prometheus_client.start_http_server(metrics_port, addr="127.0.0.1")
    anyio.run(_serve, name, service, *args, backend="asyncio",
              backend_options={"use_uvloop": True})
    log.info("stopped", service=name)
    return 0
