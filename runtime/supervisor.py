"""`jifen up`: the whole system on one machine, supervised.

Starts (or reuses) the database, migrates it, loads the demo alliance into an empty database,
then runs host, switch, front and the notification sender (with partitions, each partition's
host and the driver of transfers between them) as child processes, restarting any
that dies, until SIGINT or SIGTERM stops them in reverse order, each with a SIGTERM that drains
it (the front first, so that its terminals have their answers; docs/reliability.md, "Graceful
drain and restarts").
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import anyio
import structlog
from anyio.abc import Process

from account_host.config import HostConfig
from runtime.config import Config
from runtime.local_partitions import PartitionHost
from runtime.service import SUPERVISED_ENV

log = structlog.get_logger("jifen.up")

# A child that dies is restarted after this long, doubling up to the maximum.
RESTART_BACKOFF_S_MIN = 0.5
RESTART_BACKOFF_S_MAX = 10.0
# How long a child may take to open its port.
CHILD_READY_TIMEOUT_S = 60.0
# How long a child may take to exit after SIGTERM, past its drain (its drain_timeout_s): its
# connections and pools closing, each bounded by a database timeout (10 s at most by default).
CHILD_CLOSE_S_MAX = 10.0
# A child whose drain is not known (the load test's): the longest default drain (the front's
# 20 s) and the closing.
CHILD_STOP_TIMEOUT_S = 30.0
# How often a starting child's port is tried.
PORT_POLL_INTERVAL_S = 0.1


@dataclass
class Child:
    name: str
    port: int
    process: Process | None = None
    restarts: int = 0
    stopping: bool = field(default=False)
    stop_timeout_s: float = CHILD_STOP_TIMEOUT_S
    # The command's service and configuration, when not `name` and the supervisor's file (a
    # partition's host: child "host p2", service "host", its own file).
    service: str | None = None
    config_path: str | None = None


def _child_command(config_path: str | None, name: str) -> list[str]:
    command = [sys.executable, "-m", "jifen.cli"]
    if config_path:
        command += ["--config", config_path]
    return command + name.split()   # "transit drive": a command and its action


def _children(config: Config, partition_hosts: Sequence[PartitionHost]) -> list[Child]:
    """Hosts first (main's, then each partition's), then the switch, then the front: each
    starts once the one it connects to listens; then the notification sender."""
    def host_child(name: str, host: HostConfig, config_path: str | None = None) -> Child:
        return Child(name, host.listen_port, service="host", config_path=config_path,
                     stop_timeout_s=host.drain_timeout_s + CHILD_CLOSE_S_MAX)

    return [
        host_child("host", config.host),
        *(host_child(f"host {host.name}", host.config.host, host.config_path)
          for host in partition_hosts),
        Child("switch", config.switch.listen_port,
              stop_timeout_s=config.switch.drain_timeout_s + CHILD_CLOSE_S_MAX),
        Child("front", config.front.listen_port,
              stop_timeout_s=config.front.drain_timeout_s + CHILD_CLOSE_S_MAX),
        # Members' notifications (none configured: printed, on the supervisor's stdout); ready
        # once its metrics port listens.
        Child("notify", config.notify.metrics_port,
              stop_timeout_s=config.notify.drain_timeout_s + CHILD_CLOSE_S_MAX),
        # Transfers between partitions: only where there are several.
        *([Child("transit", config.transit.metrics_port, service="transit drive",
                 stop_timeout_s=config.transit.drain_timeout_s + CHILD_CLOSE_S_MAX)]
          if partition_hosts else []),
    ]


class ChildStartError(Exception):
    """A child exited, or did not open its port in time, while starting."""


async def wait_for_port(child: Child) -> None:
    """Until the child accepts connections on its port; ChildStartError if it never does."""
    try:
        with anyio.fail_after(CHILD_READY_TIMEOUT_S):
            while True:
                if child.process is not None and child.process.returncode is not None:
                    raise ChildStartError(
                        f"{child.name} exited with {child.process.returncode} at start")
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", child.port)
                except OSError:
                    await anyio.sleep(PORT_POLL_INTERVAL_S)
                    continue
                await stream.aclose()
                return
    except TimeoutError as exc:
        raise ChildStartError(f"{child.name} did not listen on {child.port} within "
                              f"{CHILD_READY_TIMEOUT_S:g} s") from exc


async def _run_child(child: Child, command: list[str], env: dict[str, str],
                     ready: anyio.Event) -> None:
    """Keep one child running; restarts it with backoff until the supervisor stops."""
    backoff_s = RESTART_BACKOFF_S_MIN
    while not child.stopping:
        child.process = await anyio.open_process(command, env=env, stdout=None, stderr=None)
        if not ready.is_set():
            await wait_for_port(child)
            ready.set()
        code = await child.process.wait()
        if child.stopping:
            return
        child.restarts += 1
        log.error("child_died", child=child.name, exit_code=code, restart_in_s=backoff_s)
        await anyio.sleep(backoff_s)
        backoff_s = min(backoff_s * 2, RESTART_BACKOFF_S_MAX)


async def stop_child(child: Child) -> None:
    """SIGTERM (the child drains), then SIGKILL after its stop timeout; it is not
    restarted."""
    child.stopping = True
    process = child.process
    if process is None or process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    with anyio.move_on_after(child.stop_timeout_s):
        await process.wait()
        return
    log.warning("child_killed", child=child.name)
    process.kill()
    await process.wait()


async def supervise(config: Config, config_path: str | None,
                    announce: Callable[[], None],
                    partition_hosts: Sequence[PartitionHost] = ()) -> None:
    """Run the children until SIGTERM or SIGINT; `partition_hosts`: the hosts of partitions
    other than main's (`jifen up --partitions`), each with its own file."""
    # Each child resolves its own database URL from the same file and environment: on the
    # embedded server, its own role's login; never the administrator's password from us.
    env = dict(os.environ)
    env[SUPERVISED_ENV] = "1"   # a Ctrl-C is ours to act on: we drain them in order
    children = _children(config, partition_hosts)
    async with anyio.create_task_group() as group:
        try:
            for child in children:
                ready = anyio.Event()
                command = _child_command(child.config_path or config_path,
                                         child.service or child.name)
                group.start_soon(_run_child, child, command, env, ready)
                with anyio.fail_after(CHILD_READY_TIMEOUT_S + 1):
                    await ready.wait()
            announce()
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    log.info("stopping", signal=signal.Signals(signum).name)
                    break
        finally:
            with anyio.CancelScope(shield=True):
                for child in reversed(children):
                    await stop_child(child)
            group.cancel_scope.cancel()

