"""Asking every configured process how it is (`jifen status`): GET /status on each one's
metrics port (`ops_server.py`), all at once, each within a timeout.

The processes are those of the configuration: front, switch and host, and the dial-up bridge
when it has ports. A process whose metrics_port is 0 serves nothing and is reported so.
`wait_ready` asks again until every one asked is ready, within a bound: how a systemd unit
counts its service started only once it is ready (`jifen status --wait`).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import msgspec

from proto.health import ServiceStatus
from runtime.config import Config

# A process answers /status from a thread of its own in milliseconds; one that takes longer
# than this is as good as down to an operator.
STATUS_TIMEOUT_S_DEFAULT = 2.0
# The metrics endpoints listen on this address only (runtime/service.py).
METRICS_HOST = "127.0.0.1"
# The largest /status body we read: a few checks and links are about 1 KB.
STATUS_SIZE_BYTES_MAX = 64 * 1024
# While waiting for readiness, how often the processes are asked: a unit's start is counted
# within this of the service being ready, and a process answers in milliseconds.
READY_POLL_INTERVAL_S = 0.5
SERVICE_NAMES = ("front", "switch", "host", "notify", "transit", "dialup")


class ProcessStatus(msgspec.Struct, frozen=True):
    """One process as `jifen status` sees it: its own answer, or why there is none."""

    service: str
    address: str
    status: ServiceStatus | None = None
    error: str | None = None
    # A host's partition when the configuration names more than one host (`[status] hosts`).
    partition: str | None = None

    @property
    def label(self) -> str:
        return self.service if self.partition is None else f"{self.service} {self.partition}"

    @property
    def ready(self) -> bool:
        return self.status is not None and self.status.alive and self.status.ready


def configured_processes(
    config: Config, services: Sequence[str] = (),
) -> list[tuple[str, int, str | None]]:
    """(service, metrics port, partition) of every process the configuration runs, or of
    `services` alone (the dial-up bridge even without ports, and the notification sender and
    the transfers' driver only when asked for by name). Each host of `[status] hosts` follows
    the file's own; hosts have their partition named then."""
    assert set(services) <= set(SERVICE_NAMES), services
    own_partition = config.host.name if config.status.hosts else None
    processes: list[tuple[str, int, str | None]] = [
        ("front", config.front.metrics_port, None),
        ("switch", config.switch.metrics_port, None),
        ("host", config.host.metrics_port, own_partition),
        *(("host", port, name) for name, port in config.status.hosts.items())]
    if "notify" in services:   # asked by name (its unit's readiness), as a bridge without ports
        processes.append(("notify", config.notify.metrics_port, None))
    if "transit" in services:   # likewise: the driver of transfers between partitions
        processes.append(("transit", config.transit.metrics_port, None))
    if config.dialup.ports or "dialup" in services:
        processes.append(("dialup", config.dialup.metrics_port, None))
    if services:
        processes = [process for process in processes if process[0] in services]
    return processes


def fetch_status(service: str, port: int, timeout_s: float,
                 partition: str | None = None) -> ProcessStatus:
    status = _fetch_status(service, port, timeout_s)
    return status if partition is None else msgspec.structs.replace(status, partition=partition)


def _fetch_status(service: str, port: int, timeout_s: float) -> ProcessStatus:
    address = f"{METRICS_HOST}:{port}"
    if port == 0:
        return ProcessStatus(service, "-", error="metrics_port is 0: no endpoint to ask")
    try:
        with urllib.request.urlopen(f"http://{address}/status", timeout=timeout_s) as answer:
            body = answer.read(STATUS_SIZE_BYTES_MAX)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        return ProcessStatus(service, address, error=f"not answering: {reason}")
    try:
        status = msgspec.json.decode(body, type=ServiceStatus)
    except msgspec.DecodeError as exc:
        return ProcessStatus(service, address, error=f"not a Jifen status: {exc}")
    if status.service != service:
        return ProcessStatus(service, address, status,
                             error=f"the {status.service} answers on this port")
    return ProcessStatus(service, address, status)


def system_status(config: Config, timeout_s: float = STATUS_TIMEOUT_S_DEFAULT,
                  services: Sequence[str] = ()) -> list[ProcessStatus]:
    """Every configured process's status (or that of `services`), asked in parallel: at
    most about `timeout_s`."""
    processes = configured_processes(config, services)
    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        futures = [pool.submit(fetch_status, service, port, timeout_s, partition)
                   for service, port, partition in processes]
        return [future.result() for future in futures]


def wait_ready(
    config: Config, wait_s: float, timeout_s: float = STATUS_TIMEOUT_S_DEFAULT,
    services: Sequence[str] = (), *, clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ProcessStatus]:
    """Ask every READY_POLL_INTERVAL_S until every process (of `services`) is ready, for at
    most `wait_s`; the last answers. A process with no endpoint (metrics_port 0) can never
    say it is ready: the wait ends at once."""
    deadline = clock() + wait_s
    while True:
        processes = system_status(config, min(timeout_s, max(deadline - clock(), 0.1)),
                                  services)
        if all(process.ready for process in processes):
            return processes
        if any(process.address == "-" for process in processes):
            return processes
        left_s = deadline - clock()
        if left_s <= 0:
            return processes
        sleep(min(READY_POLL_INTERVAL_S, left_s))
