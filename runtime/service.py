"""Running one service process: logging, the metrics and health endpoint (`ops_server.py`),
uvloop, and a clean stop on signals.

The service is called as `service(*args, health=readiness, task_status=...)`: it adds its
checks to `readiness` (`proto.health`); the runtime adds `started`, which passes once the
service has reported itself started (its port open).

A service run with a drain timeout is also handed `drain=` (`proto.drain`). The first SIGTERM
or SIGINT asks it to drain: it stops taking new work, finishes what is in flight and returns,
and the process exits 0. A second signal, or the drain's deadline, cancels it as a service
without a drain is cancelled at the first signal (what is still in flight is then handled as
a crash would leave it: docs/reliability.md, "Graceful drain and restarts"). While draining,
the check `draining` fails, so `/readyz` is 503 and `jifen status` says the process is on its
way out.

Under `jifen up` (`$JIFEN_SUPERVISED`) a service ignores SIGINT: a Ctrl-C in the shell reaches
every process of the group, and the supervisor, which gets it too, drains its children one by
one with SIGTERM; a SIGINT of their own would make that SIGTERM a second signal, which cuts.
"""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

import anyio
import structlog

from proto.drain import Drain
from proto.health import Readiness
from runtime.config import Config
from runtime.logging import configure_logging
from runtime.ops_server import Heartbeat, OpsEndpoint, OpsServer

log = structlog.get_logger("runtime.service")

ServiceMain = Callable[..., Coroutine[Any, Any, None]]

# Set by `jifen up` for its children (the module's docstring).
SUPERVISED_ENV = "JIFEN_SUPERVISED"


def _stop_signals() -> tuple[signal.Signals, ...]:
    """The signals that stop this process: SIGTERM, and SIGINT unless supervised (then it is
    ignored, rather than left to Python's KeyboardInterrupt)."""
    if os.environ.get(SUPERVISED_ENV) == "1":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return (signal.SIGTERM,)
    return (signal.SIGTERM, signal.SIGINT)


async def _stop_on_signal(scope: anyio.CancelScope, drain: Drain | None,
                          returned: anyio.Event) -> None:
    """The first signal asks the drain (without one: cancels); a second signal, or the drain's
    deadline, cancels; the service returning on its own ends the process too."""
    with anyio.open_signal_receiver(*_stop_signals()) as signals:
        async with anyio.create_task_group() as waiting:
            waiting.start_soon(_set_when, returned, waiting.cancel_scope)
            async for signum in signals:
                name = signal.Signals(signum).name
                if drain is None or drain.asked:
                    log.info("stopping", signal=name)
                    break
                log.info("draining", signal=name, drain_timeout_s=drain.timeout_s)
                drain.ask()
                waiting.cancel_scope.deadline = drain.deadline
            waiting.cancel_scope.cancel()
    if drain is not None and drain.asked and not returned.is_set():
        log.warning("drain_cut", after_s=round(anyio.current_time() - (drain.asked_at or 0), 3))
    scope.cancel()


async def _set_when(returned: anyio.Event, scope: anyio.CancelScope) -> None:
    await returned.wait()
    scope.cancel()


async def _run_service(service: ServiceMain, args: tuple[object, ...], kwargs: dict[str, Any],
                       returned: anyio.Event, *,
                       task_status: anyio.abc.TaskStatus[Any] = anyio.TASK_STATUS_IGNORED,
                       ) -> None:
    try:
        await service(*args, **kwargs, task_status=task_status)
    finally:
        returned.set()


class Started:
    """The runtime's own check: the service has finished starting."""

    def __init__(self) -> None:
        self.port: int | None = None

    def probe(self) -> tuple[bool, str]:
        if self.port is None:
            return False, "starting"
        return True, "started"


async def _serve(name: str, service: ServiceMain, readiness: Readiness, heartbeat: Heartbeat,
                 started: Started, drain_timeout_s: float | None, *args: object) -> None:
    kwargs: dict[str, Any] = {"health": readiness}
    drain = None
    if drain_timeout_s is not None:
        kwargs["drain"] = drain = Drain(drain_timeout_s)
        readiness.add_check("draining", drain.probe)
    returned = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(_stop_on_signal, group.cancel_scope, drain, returned)
        group.start_soon(heartbeat.run)
        port = await group.start(partial(_run_service, service, args, kwargs, returned))
        started.port = port if isinstance(port, int) else 0
        # What start-up built (the host's state: every card, the retransmission window) lives
        # as long as the process: out of the collector's sight, a full collection no longer
        # walks it, which took tens of milliseconds, a stall every request in flight waited for.
        gc.collect()
        gc.freeze()
        log.info("started", service=name, port=port)


def run_service(
    name: str, config: Config, metrics_port: int, service: ServiceMain, *args: object,
    drain_timeout_s: float | None = None,
) -> int:
    """Run `service(*args, health=..., task_status=...)` until SIGTERM or SIGINT; 0 on a
    clean stop. Given `drain_timeout_s`, the service also takes `drain=` and the first signal
    drains it (the module's docstring). The metrics port (when not 0) serves /metrics,
    /healthz, /readyz, /status."""
    configure_logging(config.log.level, process=name, log_format=config.log.format)
    readiness, heartbeat, started = Readiness(), Heartbeat(), Started()
    # Before the endpoint answers: never ready with no checks yet.
    readiness.add_check("started", started.probe)
    server = None
    if metrics_port:
        server = OpsServer(OpsEndpoint(name, readiness, heartbeat), metrics_port).start()
    try:
        anyio.run(_serve, name, service, readiness, heartbeat, started, drain_timeout_s, *args,
                  backend="asyncio", backend_options={"use_uvloop": True})
    finally:
        if server is not None:
            server.stop()
    log.info("stopped", service=name)
    return 0
