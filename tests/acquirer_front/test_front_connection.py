"""Connections: framing errors close at once and post nothing, timeouts, limits, pipelining."""

from __future__ import annotations

import anyio
import pytest
from prometheus_client import REGISTRY

from proto.iso_codec import encode_iso
from tests.acquirer_front.front_testkit import (
    T_SIGNED,
    T_UNKNOWN,
    TPDU,
    WAIT_S,
    TerminalClient,
    frame,
    network,
    purchase,
    running_front,
)

pytestmark = pytest.mark.anyio


async def assert_still_serving(port: int) -> None:
    async with TerminalClient.connect(port) as terminal:
        assert (await terminal.request(network("301")))["39"] == "00"


def framing_errors() -> float:
    return sum(
        sample.value for metric in REGISTRY.collect() if metric.name == "jifen_front_framing_errors"
        for sample in metric.samples if sample.name.endswith("_total")
    )


class TestFramingErrors:
    @pytest.mark.parametrize("raw", [
        pytest.param(b"\x0b\xb8" + TPDU.encode() + b"0800", id="LEN 3000"),
        pytest.param(b"\x00\x08" + TPDU.encode() + b"080", id="LEN 8"),
        pytest.param(b"\x00\x0d\x61\x00\x01\x02\x03" + b"08002000", id="TPDU 0x61"),
        pytest.param(b"\x00\x0d" + TPDU.encode() + b"08X0ABCD", id="garbage MTI"),
        pytest.param(frame({"t": "0200"})[:-16] + b"ZZZZZZZZZZZZZZZZ", id="garbage bitmap"),
        pytest.param(b"\x00\x0d" + TPDU.encode() + b"99950000", id="MTI without an answer MTI"),
    ])
    async def test_closes_and_posts_nothing(self, database_url: str, raw: bytes) -> None:
        async with running_front(database_url) as running:
            before = framing_errors()
            async with TerminalClient.connect(running.port) as terminal:
                await terminal.stream.send(raw)
                await terminal.expect_closed()
            await assert_still_serving(running.port)
            assert [request.mti for request in running.switch.seen] == ["0800"]
            assert framing_errors() == before + 1

    async def test_good_requests_before_a_bad_frame_are_answered(
        self, database_url: str
    ) -> None:
        async with running_front(database_url) as running:
            async with TerminalClient.connect(running.port) as terminal:
                assert (await terminal.request(purchase()))["39"] == "00"
                await terminal.stream.send(b"\x0b\xb8")
                await terminal.expect_closed()

    async def test_truncated_frame_and_hang_up_leave_others_alone(
        self, database_url: str
    ) -> None:
        async with running_front(database_url) as running:
            async with TerminalClient.connect(running.port) as other:
                await other.send(purchase(stan="000001"))
                async with TerminalClient.connect(running.port) as truncating:
                    await truncating.stream.send(frame(purchase(stan="000002"))[:30])
                assert (await other.receive())[1]["11"] == "000001"
                assert (await other.request(purchase(stan="000003")))["39"] == "00"
            assert [request.stan for request in running.switch.seen] == ["000001", "000003"]


class TestTimeoutsAndLimits:
    async def test_frame_not_completed_in_time_closes(self, database_url: str) -> None:
        async with running_front(database_url, frame_complete_timeout_s=0.1) as running:
            async with TerminalClient.connect(running.port) as terminal:
                await terminal.stream.send(frame(purchase())[:20])
                await terminal.expect_closed()
            assert running.switch.seen == []

    async def test_idle_connection_closes(self, database_url: str) -> None:
        async with running_front(database_url, idle_timeout_s=0.1) as running:
            async with TerminalClient.connect(running.port) as terminal:
                await terminal.expect_closed()

    async def test_connections_beyond_the_limit_are_closed(self, database_url: str) -> None:
        async with running_front(database_url, connections_max=1) as running:
            async with TerminalClient.connect(running.port) as first:
                assert (await first.request(network("301")))["39"] == "00"
                async with TerminalClient.connect(running.port) as second:
                    await second.expect_closed()
                assert (await first.request(network("301", stan="000002")))["39"] == "00"

    async def test_half_closed_terminal_still_gets_its_answer(self, database_url: str) -> None:
        async with running_front(database_url) as running:
            async with TerminalClient.connect(running.port) as terminal:
                await terminal.send(purchase())
                await terminal.stream.send_eof()
                assert (await terminal.receive())[1]["39"] == "00"


class TestPipelining:
    @pytest.mark.parametrize("pipelined_requests_max", [64, 4])
    async def test_fifty_pipelined_requests_are_all_answered(
        self, database_url: str, pipelined_requests_max: int
    ) -> None:
        # Every fifth request comes from an unknown terminal: refused at once, so answers
        # overtake each other and the terminal must match them by MTI, 41 and 11.
        requests = [
            purchase(stan=f"{number:06d}", terminal=T_UNKNOWN if number % 5 == 0 else T_SIGNED)
            for number in range(1, 51)
        ]
        async with running_front(
            database_url, pipelined_requests_max=pipelined_requests_max
        ) as running:
            async with TerminalClient.connect(running.port) as terminal:
                await terminal.stream.send(b"".join(frame(fields) for fields in requests))
                answers = [(await terminal.receive())[1] for _ in requests]
        by_key = {(answer["t"], answer["41"], answer["11"]): answer["39"] for answer in answers}
        assert by_key == {
            ("0210", fields["41"], fields["11"]): "58" if fields["41"] == T_UNKNOWN else "00"
            for fields in requests
        }
        assert len(running.switch.seen) == 40

    async def test_answers_are_whole_frames_under_concurrency(self, database_url: str) -> None:
        """Many connections at once, each pipelining: no answer is interleaved with another."""
        async with running_front(database_url) as running:

            async def one_terminal(index: int) -> None:
                stans = [f"{index:03d}{number:03d}" for number in range(20)]
                async with TerminalClient.connect(running.port) as terminal:
                    await terminal.stream.send(
                        b"".join(frame(purchase(stan=stan)) for stan in stans))
                    got = sorted([(await terminal.receive())[1]["11"] for _ in stans])
                assert got == stans

            with anyio.fail_after(WAIT_S):
                async with anyio.create_task_group() as group:
                    for index in range(10):
                        group.start_soon(one_terminal, index)


def test_frame_helper_matches_the_spec() -> None:
    body = encode_iso(network())
    assert frame(network()) == (len(body) + 5).to_bytes(2, "big") + TPDU.encode() + body
