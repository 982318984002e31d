"""The dial-up bridge: every configured port served by its own task, and one Reverser.

    bridge = DialupBridge(config)
    async with anyio.create_task_group() as group:
        await group.start(bridge.run)
        await bridge.events.wait_for(lambda event: isinstance(event, PortReady), 5.0)
"""

from __future__ import annotations

from functools import partial

import anyio
import structlog

from dialup.config import DialupConfig
from dialup.events import EventLog
from dialup.front import FrontEndpoint
from dialup.port_task import PortTask
from dialup.reversals import Reverser
from proto.health import LinkState, Readiness

log = structlog.get_logger("dialup.bridge")


class DialupBridge:
    def __init__(self, config: DialupConfig) -> None:
        self.config = config
        self.events = EventLog()
        # Read the TLS files now: a bridge that cannot open them must not answer calls.
        self.front = FrontEndpoint.from_config(config)
        self.reverser = Reverser(self.front, config.reversal, self.events)

    def readiness(self) -> tuple[bool, str]:
        """Ready when every configured port's modem is initialised (waiting for a call or in
        one); a port that failed is retried after a backoff, and is not ready meanwhile."""
        labels = [port.label for port in self.config.ports]
        not_ready = [label for label in labels if not self.events.port_ready.get(label, False)]
        if not_ready:
            return False, f"ports not ready: {', '.join(not_ready)}"
        return True, f"{len(labels)} ports ready"

    def port_link(self, label: str) -> LinkState:
        return LinkState(f"port {label}", self.events.port_ready.get(label, False),
                         f"front {self.config.front_address}")

    async def run(self, *, task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        """Serve every port until cancelled; `started` gives the number of ports."""
        async with anyio.create_task_group() as group:
            await group.start(self.reverser.run)
            for port in self.config.ports:
                group.start_soon(PortTask(port, self.config, self.front, self.reverser,
                                          self.events).run,
                                 name=f"dialup port {port.label}")
            log.info("dial-up bridge started", ports=[port.label for port in self.config.ports],
                     front=self.config.front_address, front_tls=self.config.front_tls)
            task_status.started(len(self.config.ports))


async def run_bridge(config: DialupConfig, *, health: Readiness | None = None,
                     task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
    """Ready (`health`) when every port is (`DialupBridge.readiness`)."""
    bridge = DialupBridge(config)
    if health is not None:
        health.add_check("ports", bridge.readiness)
        for port in config.ports:
            health.add_link(f"port {port.label}", partial(bridge.port_link, port.label))
    await bridge.run(task_status=task_status)
