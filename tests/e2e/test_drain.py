"""Each service's drain in one event loop (the first SIGTERM's, `proto.drain`): what a terminal
sees while the front, the switch or the host stops gracefully. The same under load, with child
processes and SIGTERM, is tests/crash/test_graceful_restart.py."""

from __future__ import annotations

import anyio
import pytest

from devices.errors import HostConnectionError
from devices.terminal_client import TerminalClient
from proto.codes import ResponseCode
from tests.e2e.system import CARDS, SECOND_TERMINAL, RunningSystem, running_system

pytestmark = pytest.mark.anyio

WAIT_S = 5.0
# The front's drain_idle_wait_s (its default): an idle connection is closed after it.
IDLE_WAIT_S = 1.0


async def closed_by_front(terminal: TerminalClient) -> None:
    """Until the front has closed the terminal's connection (its reader saw the end)."""
    with anyio.fail_after(WAIT_S), pytest.raises(HostConnectionError):
        await terminal.receive_raw(timeout_s=WAIT_S)


async def purchase(terminal: TerminalClient, pan: str = CARDS[0]) -> dict[str, str]:
    return await terminal.purchase(pan, amount_fen=1_000)


async def test_a_draining_front_answers_then_closes_and_takes_no_new_terminal(
        database_url: str) -> None:
    async with running_system(database_url) as system, \
            system.terminal() as busy, system.terminal(SECOND_TERMINAL) as idle:
        await busy.sign_on()
        await idle.sign_on()
        started = anyio.current_time()
        system.front.start_drain()
        # A terminal that sends gets its answer, and the close right after it.
        assert (await purchase(busy))["39"] == ResponseCode.APPROVED
        await closed_by_front(busy)
        assert anyio.current_time() - started < IDLE_WAIT_S
        # One that sends nothing is closed once the front stops reading.
        await closed_by_front(idle)
        assert anyio.current_time() - started >= IDLE_WAIT_S
        with pytest.raises(HostConnectionError):
            async with system.terminal():
                pass
        with anyio.fail_after(WAIT_S):
            await system.front.stopped.wait()
        assert not system.front.scope.cancel_called   # it returned by itself
        await system.front.start(system.group)
        async with system.terminal() as again:
            assert (await again.sign_on())["39"] == ResponseCode.APPROVED


async def test_a_front_holds_requests_while_its_switch_restarts(database_url: str) -> None:
    async with running_system(database_url) as system, system.terminal() as terminal:
        await terminal.sign_on()
        assert await system.switch.drain_stop() < WAIT_S
        answers: list[dict[str, str]] = []

        async def send() -> None:
            answers.append(await purchase(terminal))

        async with anyio.create_task_group() as group:
            group.start_soon(send)
            await anyio.sleep(0.2)   # the request waits at the front meanwhile: no 91
            assert not answers
            await system.switch.start(system.group)
        assert [answer["39"] for answer in answers] == [ResponseCode.APPROVED]
        assert await postings(system) == 1


async def test_a_front_that_stops_reading_still_answers_what_it_read(database_url: str) -> None:
    """A request in flight when the front stops reading (here: held while the switch restarts)
    is answered, the connection closes after it, and the front waits for it to exit."""
    async with running_system(database_url) as system, system.terminal() as terminal:
        await terminal.sign_on()
        await system.switch.drain_stop()
        answers: list[dict[str, str]] = []

        async def send() -> None:
            answers.append(await purchase(terminal))

        async with anyio.create_task_group() as group:
            group.start_soon(send)
            await anyio.sleep(0.1)
            started = anyio.current_time()
            system.front.start_drain()
            await anyio.sleep(IDLE_WAIT_S + 0.2)   # past the idle wait: it reads no more
            assert not answers and not system.front.stopped.is_set()
            await system.switch.start(system.group)
        assert [answer["39"] for answer in answers] == [ResponseCode.APPROVED]
        await closed_by_front(terminal)
        with anyio.fail_after(WAIT_S):
            await system.front.stopped.wait()
        assert not system.front.scope.cancel_called
        assert anyio.current_time() - started < WAIT_S


async def test_a_draining_host_answers_everything_it_took(database_url: str) -> None:
    async with running_system(database_url) as system, system.terminal() as terminal:
        await terminal.sign_on()
        answers: list[str] = []

        async def send(pan: str) -> None:
            answers.append((await purchase(terminal, pan))["39"])

        async with anyio.create_task_group() as group:
            for index in range(40):   # a request every 5 ms, each on its way when the next goes
                group.start_soon(send, CARDS[index % len(CARDS)])
                await anyio.sleep(0.005)
                if index == 20:
                    system.host.start_drain()
        # Every request answered: approved, or 91 once the switch knew the host was closing.
        assert len(answers) == 40
        assert set(answers) <= {ResponseCode.APPROVED, ResponseCode.HOST_UNAVAILABLE}
        with anyio.fail_after(WAIT_S):
            await system.host.stopped.wait()
        assert not system.host.scope.cancel_called   # it returned by itself
        approved = answers.count(ResponseCode.APPROVED)
        assert approved >= 15
        await system.host.start(system.group)
        await settled(system, approved)


async def postings(system: RunningSystem) -> int:
    """Purchases in the journal that stand (not reversed)."""
    return await system.fetchval(
        "SELECT count(*) FROM transactions t WHERE kind = 'purchase' AND NOT EXISTS ("
        " SELECT 1 FROM transactions r WHERE r.original_transaction_id = t.id)")


async def settled(system: RunningSystem, approved: int) -> None:
    """Until the journal's standing purchases are the approvals: a 91 whose request had
    posted is reversed by the front's store-and-forward."""
    with anyio.fail_after(WAIT_S * 4):
        while await postings(system) != approved:
            await anyio.sleep(0.1)
