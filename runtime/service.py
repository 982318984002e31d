"""Running one service process: logging, the metrics and health endpoint (`ops_server.py`),
uvloop, and a clean stop on signals.

The service is called as `service(*args, health=readiness, task_status=...)`: it adds its
checks to `readiness` (`proto.health`); the runtime adds `started`, which passes once the
service has reported itself started (its port open).
"""

from __future__ import annotations

import gc
import signal
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

import anyio
import structlog

from proto.health import Readiness
from runtime.config import Config
from runtime.logging import configure_logging
from runtime.ops_server import Heartbeat, OpsEndpoint, OpsServer

log = structlog.get_logger("runtime.service")

ServiceMain = Callable[..., Coroutine[Any, Any, None]]


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("stopping", signal=signal.Signals(signum).name)
            scope.cancel()
            return


class Started:
    """The runtime's own check: the service has finished starting."""

    def __init__(self) -> None:
        self.port: int | None = None

    def probe(self) -> tuple[bool, str]:
        if self.port is None:
            return False, "starting"
        return True, "started"


async def _serve(name: str, service: ServiceMain, readiness: Readiness, heartbeat: Heartbeat,
                 started: Started, *args: object) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(_stop_on_signal, group.cancel_scope)
        group.start_soon(heartbeat.run)
        port = await group.start(partial(service, *args, health=readiness))
        started.port = port if isinstance(port, int) else 0
        # What start-up built (the host's state: every card, the retransmission window) lives
        # as long as the process: out of the collector's sight, a full collection no longer
        # walks it, which took tens of milliseconds, a stall every request in flight waited for.
        gc.collect()
        gc.freeze()
        log.info("started", service=name, port=port)


def run_service(
    name: str, config: Config, metrics_port: int, service: ServiceMain, *args: object
) -> int:
    """Run `service(*args, health=..., task_status=...)` until SIGTERM or SIGINT; 0 on a
    clean stop. The metrics port (when not 0) serves /metrics, /healthz, /readyz, /status."""
    configure_logging(config.log.level, process=name, log_format=config.log.format)
    readiness, heartbeat, started = Readiness(), Heartbeat(), Started()
    # Before the endpoint answers: never ready with no checks yet.
    readiness.add_check("started", started.probe)
    server = None
    if metrics_port:
        server = OpsServer(OpsEndpoint(name, readiness, heartbeat), metrics_port).start()
    try:
        anyio.run(_serve, name, service, readiness, heartbeat, started, *args,
                  backend="asyncio", backend_options={"use_uvloop": True})
    finally:
        if server is not None:
            server.stop()
    log.info("stopped", service=name)
    return 0
