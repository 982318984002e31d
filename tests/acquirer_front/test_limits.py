"""Connection limits of the front, each over real TCP: connections in total and per source
address, the idle timeout, the deadline to complete a started frame (slowloris), and the
pipelined requests in flight per connection. The 5,000 idle connections are in
test_limits_idle_connections.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from prometheus_client import REGISTRY

from acquirer_front.config import FrontConfig
from acquirer_front.limits import ConnectionLimits, RefusalReason, SampledLog
from tests.acquirer_front.front_testkit import (
    T_UNKNOWN,
    WAIT_S,
    FakeSwitch,
    TerminalClient,
    frame,
    network,
    purchase,
    running_front,
)

pytestmark = pytest.mark.anyio

# A second loopback address: Linux routes all of 127/8 to lo, so a client bound to it is
# another source address for the front.
OTHER_SOURCE = "127.0.0.2"


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"{name}_total", labels) or 0.0


def refused(reason: RefusalReason) -> float:
    return counter("jifen_front_refused_connections", reason=reason)


@asynccontextmanager
async def connect_from(port: int, source: str) -> AsyncIterator[TerminalClient]:
    with anyio.fail_after(WAIT_S):
        stream = await anyio.connect_tcp("127.0.0.1", port, local_host=source)
    async with stream:
        yield TerminalClient(stream)


async def echo_answered(terminal: TerminalClient, stan: int = 1) -> bool:
    """True when the front answers an echo on this connection, False when it closed it."""
    try:
        await terminal.send(network("301", stan=f"{stan:06d}"))
        return (await terminal.receive())[1]["39"] == "00"
    except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError):
        return False


async def wait_until_admitted(port: int, source: str = "127.0.0.1") -> None:
    """A closed connection's slot is released once the front sees the close: poll for it."""
    with anyio.fail_after(WAIT_S):
        while True:
            async with connect_from(port, source) as terminal:
                if await echo_answered(terminal):
                    return
            await anyio.sleep(0.01)


async def wait_purchases_seen(switch: FakeSwitch, count: int) -> None:
    """Until the switch has seen `count` 0200s (it may see the front's reversals as well)."""
    seen = len(switch.seen)
    while sum(request.mti == "0200" for request in switch.seen) < count:
        seen += 1
        await switch.wait_seen(seen)


class TestConnectionLimitsAccounting:
    def test_total_and_per_source(self) -> None:
        limits = ConnectionLimits(connections_max=3, connections_per_source_max=2)
        assert limits.admit("10.0.0.1") is None
        assert limits.admit("10.0.0.1") is None
        assert limits.admit("10.0.0.1") is RefusalReason.CONNECTIONS_PER_SOURCE_MAX
        assert limits.admit("10.0.0.2") is None
        assert limits.admit("10.0.0.3") is RefusalReason.CONNECTIONS_MAX
        assert (limits.open_count, limits.held_by("10.0.0.1")) == (3, 2)
        limits.release("10.0.0.1")
        assert limits.admit("10.0.0.3") is None

    def test_sources_without_connections_are_forgotten(self) -> None:
        limits = ConnectionLimits(connections_max=10, connections_per_source_max=10)
        for number in range(5):
            assert limits.admit(f"10.0.0.{number}") is None
        for number in range(5):
            limits.release(f"10.0.0.{number}")
        assert limits.open_count == 0
        assert limits._by_source == {}


class TestSampledLog:
    def test_one_line_per_interval_with_the_count_suppressed(self) -> None:
        now = [100.0]
        lines: list[tuple[str, dict[str, object]]] = []
        sampled = SampledLog(lambda event, **fields: lines.append((event, fields)),
                             "connection_refused", interval_s=10.0, clock=lambda: now[0])
        assert sampled(source="a")
        for _ in range(999):
            now[0] += 0.001
            assert not sampled(source="a")
        now[0] = 110.5
        assert sampled(source="b")
        assert lines == [("connection_refused", {"suppressed": 0, "source": "a"}),
                         ("connection_refused", {"suppressed": 999, "source": "b"})]


class TestConnectionsMax:
    async def test_beyond_the_limit_closed_at_once_and_counted(self, database_url: str) -> None:
        async with running_front(database_url, connections_max=2) as running:
            before = refused(RefusalReason.CONNECTIONS_MAX)
            async with TerminalClient.connect(running.port) as first, \
                    TerminalClient.connect(running.port) as second:
                assert await echo_answered(first) and await echo_answered(second)
                for _ in range(5):
                    async with TerminalClient.connect(running.port) as extra:
                        await extra.expect_closed()
                assert refused(RefusalReason.CONNECTIONS_MAX) == before + 5
                # From another address too: the total is the total.
                async with connect_from(running.port, OTHER_SOURCE) as other:
                    await other.expect_closed()
                assert await echo_answered(first, stan=2)
            # Slots come back when terminals hang up.
            await wait_until_admitted(running.port)


class TestConnectionsPerSource:
    async def test_one_address_cannot_take_more_than_its_share(self, database_url: str) -> None:
        async with running_front(database_url, connections_per_source_max=2) as running:
            before = refused(RefusalReason.CONNECTIONS_PER_SOURCE_MAX)
            async with TerminalClient.connect(running.port) as first, \
                    TerminalClient.connect(running.port) as second:
                assert await echo_answered(first) and await echo_answered(second)
                async with TerminalClient.connect(running.port) as third:
                    await third.expect_closed()
                assert refused(RefusalReason.CONNECTIONS_PER_SOURCE_MAX) == before + 1
                # Another address is not affected.
                async with connect_from(running.port, OTHER_SOURCE) as a, \
                        connect_from(running.port, OTHER_SOURCE) as b:
                    assert await echo_answered(a) and await echo_answered(b)
                assert await echo_answered(second, stan=2)
            await wait_until_admitted(running.port)
            assert refused(RefusalReason.CONNECTIONS_MAX) >= 0  # the other label exists apart


class TestIdleTimeout:
    async def test_idle_connection_is_closed(self, database_url: str) -> None:
        async with running_front(database_url, idle_timeout_s=0.2) as running:
            async with TerminalClient.connect(running.port) as terminal:
                started = anyio.current_time()
                await terminal.expect_closed()
                assert anyio.current_time() - started >= 0.15

    async def test_every_frame_restarts_the_idle_clock(self, database_url: str) -> None:
        async with running_front(database_url, idle_timeout_s=0.3) as running:
            async with TerminalClient.connect(running.port) as terminal:
                # Eight echoes 0.1 s apart: 0.8 s in all, well past one idle timeout.
                for stan in range(1, 9):
                    assert await echo_answered(terminal, stan)
                    await anyio.sleep(0.1)  # pacing a slow terminal, not synchronisation
                await terminal.expect_closed()


class TestSignOnWait:
    """A connection whose requests never pass the terminal checks is closed after
    sign_on_wait_s, however busy it keeps itself; a known terminal's connection is not."""

    async def test_a_stranger_is_closed_after_sign_on_wait(self, database_url: str) -> None:
        async with running_front(database_url, sign_on_wait_s=0.3,
                                 idle_timeout_s=WAIT_S) as running:
            async with TerminalClient.connect(running.port) as stranger:
                started = anyio.current_time()
                # Refused requests (58: an unknown terminal) do not keep it open.
                for stan in range(1, 100):
                    try:
                        await stranger.send(network("301", terminal=T_UNKNOWN,
                                                    stan=f"{stan:06d}"))
                        if (await stranger.receive())[1]["39"] != "58":
                            break
                    except (anyio.EndOfStream, anyio.IncompleteRead,
                            anyio.BrokenResourceError, OSError):
                        break
                    await anyio.sleep(0.05)  # a patient stranger's pace
                await stranger.expect_closed()
                assert 0.25 <= anyio.current_time() - started < WAIT_S

    async def test_a_known_terminal_is_not(self, database_url: str) -> None:
        async with running_front(database_url, sign_on_wait_s=0.2,
                                 idle_timeout_s=WAIT_S) as running:
            async with TerminalClient.connect(running.port) as known:
                assert await echo_answered(known)  # T_SIGNED: passes the checks
                await anyio.sleep(0.5)  # well past sign_on_wait_s: the clock under test
                assert await echo_answered(known, stan=2)

    def test_defaults(self) -> None:
        config = FrontConfig()
        assert config.sign_on_wait_s == 30.0
        # The load test's 64 terminals and the tests connect from one address.
        assert 64 < config.connections_per_source_max == 256


class TestFrameDeadline:
    async def test_slowloris_dribbling_a_frame_is_closed(self, database_url: str) -> None:
        """One byte every 20 ms would take seconds to finish the frame; the deadline counts
        from its first byte, so steady trickling does not keep the connection."""
        async with running_front(database_url, frame_complete_timeout_s=0.3) as running:
            before = counter("jifen_front_framing_errors", reason="frame_timeout")
            raw = frame(purchase())
            async with TerminalClient.connect(running.port) as terminal:
                started = anyio.current_time()
                with anyio.fail_after(WAIT_S):
                    try:
                        for byte in raw:
                            await terminal.stream.send(bytes((byte,)))
                            await anyio.sleep(0.02)  # the slow sender's pace
                    except (anyio.BrokenResourceError, OSError):
                        pass
                    await terminal.expect_closed()
                elapsed = anyio.current_time() - started
            assert 0.25 <= elapsed < len(raw) * 0.02
            assert counter("jifen_front_framing_errors", reason="frame_timeout") == before + 1
            assert running.switch.seen == []
            await wait_until_admitted(running.port)


class TestPipelinedRequestsMax:
    async def test_beyond_the_limit_the_reader_waits(self, database_url: str) -> None:
        """With a silent switch, each request holds its slot until its 91 at answer_timeout_s:
        the fourth request reaches the switch only after the first slot is freed."""
        answer_timeout_s = 0.5
        async with running_front(database_url, switch="silent", pipelined_requests_max=3,
                                 answer_timeout_s=answer_timeout_s) as running:
            requests = [purchase(stan=f"{number:06d}") for number in range(1, 10)]
            async with TerminalClient.connect(running.port) as terminal:
                await terminal.stream.send(b"".join(frame(fields) for fields in requests))
                await running.switch.wait_seen(3)
                three_seen_at = anyio.current_time()
                assert [request.mti for request in running.switch.seen] == ["0200"] * 3
                await wait_purchases_seen(running.switch, 4)
                assert anyio.current_time() - three_seen_at >= answer_timeout_s / 2
                with anyio.fail_after(WAIT_S):
                    answers = [(await terminal.receive())[1] for _ in requests]
            assert sorted(answer["11"] for answer in answers) == [r["11"] for r in requests]
            assert {answer["39"] for answer in answers} == {"91"}
            # (The front also sends the switch reversals of its 91s: store-and-forward.)
            stans = [request.stan for request in running.switch.seen if request.mti == "0200"]
            assert set(stans[:3]) == {"000001", "000002", "000003"}
            assert sorted(stans) == [fields["11"] for fields in requests]
