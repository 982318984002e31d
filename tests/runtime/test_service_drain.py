"""runtime.service's signals: the first SIGTERM asks the service to drain (and readiness says
so), the service returning ends the process; a second signal or the drain's deadline cuts it;
without a drain timeout the first signal cancels, as before drains."""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Iterator

import anyio
import pytest
from anyio.abc import TaskStatus

from proto.drain import Drain
from proto.health import Readiness
from runtime.ops_server import Heartbeat
from runtime.service import SUPERVISED_ENV, Started, _serve

pytestmark = pytest.mark.anyio

# Every wait of a test that works ends in milliseconds.
WAIT_S = 5.0


@pytest.fixture(autouse=True)
def _unfreeze() -> Iterator[None]:
    """`_serve` freezes the collector's view once the service started (a process's state lives
    as long as it does): give the test process its collector back."""
    yield
    gc.unfreeze()


class FakeService:
    """A service that starts, then waits for its drain, and either returns or hangs."""

    def __init__(self, *, returns: bool, signals: int = 1,
                 first: signal.Signals = signal.SIGTERM) -> None:
        self.returns = returns
        self.signals = signals
        self.first = first
        self.drain: Drain | None = None
        self.ready_while_draining: bool | None = None
        self.cancelled = False

    async def __call__(self, *, health: Readiness, drain: Drain | None = None,
                       task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        self.drain = drain
        task_status.started(0)
        await anyio.lowlevel.checkpoint()
        try:
            for number in range(self.signals):
                os.kill(os.getpid(), self.first if number == 0 else signal.SIGTERM)
                await anyio.sleep(0.05)
            if drain is not None:
                await drain.wait()
                self.ready_while_draining = all(check.ok for check in health.checks())
            if self.returns:
                return
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.cancelled = True
            raise


async def serve(service: FakeService, drain_timeout_s: float | None) -> float:
    """Run `_serve` as `run_service` does; the seconds it took."""
    started = anyio.current_time()
    with anyio.fail_after(WAIT_S):
        await _serve("fake", service, Readiness(), Heartbeat(), Started(), drain_timeout_s)
    return anyio.current_time() - started


async def test_the_first_signal_drains_and_the_service_ends_the_process() -> None:
    service = FakeService(returns=True)
    await serve(service, drain_timeout_s=WAIT_S)
    assert service.drain is not None and service.drain.asked
    assert service.ready_while_draining is False   # `draining` fails: /readyz is 503
    assert not service.cancelled


async def test_a_service_that_does_not_finish_is_cut_at_the_deadline() -> None:
    service = FakeService(returns=False)
    took_s = await serve(service, drain_timeout_s=0.3)
    assert service.cancelled
    assert 0.3 <= took_s < WAIT_S


async def test_a_second_signal_cuts_the_drain() -> None:
    service = FakeService(returns=False, signals=2)
    took_s = await serve(service, drain_timeout_s=WAIT_S)
    assert service.cancelled
    assert took_s < 1.0


async def test_without_a_drain_timeout_the_first_signal_cancels() -> None:
    service = FakeService(returns=False)
    await serve(service, drain_timeout_s=None)
    assert service.drain is None and service.cancelled


async def test_under_jifen_up_a_sigint_is_left_to_the_supervisor(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C reaches every process of the shell's group: the child ignores it, and drains
    on the supervisor's SIGTERM rather than being cut by it."""
    monkeypatch.setenv(SUPERVISED_ENV, "1")
    service = FakeService(returns=True, signals=2, first=signal.SIGINT)
    try:
        await serve(service, drain_timeout_s=WAIT_S)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert service.drain is not None and service.drain.asked
    assert not service.cancelled
