"""A service's graceful stop (a drain), asked by the runtime on the first SIGTERM or SIGINT.

The runtime hands each service a `Drain` as it hands it a `Readiness`. Once asked, the service
stops taking new work (the front closes its listener, a link server tells its clients it is
closing), finishes what is in flight, and returns; it plans to be done by `deadline`. The
runtime cancels it at the deadline, or at a second signal, as it did before drains existed.
"""

from __future__ import annotations

import anyio


class Drain:
    """Asked at most once; its deadline is on the anyio clock (`anyio.current_time`)."""

    def __init__(self, timeout_s: float) -> None:
        assert timeout_s >= 0
        self.timeout_s = timeout_s
        self.asked_at: float | None = None
        self._asked = anyio.Event()

    @property
    def asked(self) -> bool:
        return self.asked_at is not None

    @property
    def deadline(self) -> float:
        assert self.asked_at is not None, "a drain's deadline exists once it is asked"
        return self.asked_at + self.timeout_s

    def ask(self) -> None:
        """Start the drain now (again: nothing more)."""
        if self.asked_at is None:
            self.asked_at = anyio.current_time()
            self._asked.set()

    async def wait(self) -> None:
        """Until the drain is asked."""
        await self._asked.wait()

    def probe(self) -> tuple[bool, str]:
        """A readiness check (`proto.health`): not ready once draining, so that routing and
        `jifen status` see the process is on its way out. Reads one attribute: thread-safe."""
        if self.asked_at is None:
            return True, "serving"
        return False, f"draining: stops within {self.timeout_s:g} s"
