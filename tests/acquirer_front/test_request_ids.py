"""Request ids: one per terminal request, given by the front, in its Request to the switch and
in the front's lines about the request (its answer, a timeout, a link lost)."""

from __future__ import annotations

import re

import anyio
import pytest
from structlog.testing import capture_logs

from acquirer_front.request_ids import RequestIds
from proto.frames import REQUEST_ID_LENGTH_MAX
from tests.acquirer_front.front_testkit import WAIT_S, TerminalClient, purchase, running_front

ID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]+")


class TestRequestIds:
    def test_ids_are_the_prefix_and_a_counter(self) -> None:
        ids = RequestIds("0a1b2c3d")
        assert [ids.next() for _ in range(3)] == ["0a1b2c3d-1", "0a1b2c3d-2", "0a1b2c3d-3"]

    def test_each_process_draws_its_own_prefix(self) -> None:
        prefixes = {RequestIds().prefix for _ in range(100)}
        assert len(prefixes) == 100
        assert all(ID_PATTERN.fullmatch(RequestIds().next()) for _ in range(10))

    def test_an_id_fits_the_frames_limit_at_any_count(self) -> None:
        ids = RequestIds()
        last = f"{ids.prefix}-{2**64 - 1:x}"   # a counter no process reaches
        assert ID_PATTERN.fullmatch(last) and len(last) <= REQUEST_ID_LENGTH_MAX


@pytest.mark.anyio
class TestThroughTheFront:
    async def test_each_request_gets_an_id_that_the_switch_sees_and_the_log_names(
        self, database_url: str
    ) -> None:
        async with running_front(database_url) as running:
            assert running.switch is not None
            with capture_logs() as logs:
                async with TerminalClient.connect(running.port) as terminal:
                    for stan in ("000001", "000002"):
                        assert (await terminal.request(purchase(stan=stan)))["39"] == "00"
        ids = [request.request_id for request in running.switch.seen]
        assert len(set(ids)) == 2 and all(ID_PATTERN.fullmatch(one) for one in ids)
        answered = [line for line in logs if line["event"] == "answered"]
        assert [line["request_id"] for line in answered] == ids

    async def test_a_timeout_names_the_request_and_its_reversal_keeps_the_id(
        self, database_url: str
    ) -> None:
        async with running_front(database_url, switch="silent", answer_timeout_s=0.2) as running:
            assert running.switch is not None
            with capture_logs() as logs:
                async with TerminalClient.connect(running.port) as terminal:
                    assert (await terminal.request(purchase()))["39"] == "91"
        (request_id,) = [request.request_id for request in running.switch.seen]
        events = {line["event"]: line for line in logs}
        assert request_id in events["answers_timed_out"]["request_ids"]
        assert events["reversal_owed"]["request_id"] == request_id
        assert (events["answered"]["request_id"], events["answered"]["response_code"]) == (
            request_id, "91")

    async def test_a_link_lost_names_the_requests_on_it(self, database_url: str) -> None:
        async with running_front(database_url, switch="silent", answer_timeout_s=60) as running:
            assert running.switch is not None
            with capture_logs() as logs:
                async with TerminalClient.connect(running.port) as terminal:
                    await terminal.send(purchase())
                    await running.switch.wait_seen(1)
                    running.switch.stop()
                    with anyio.fail_after(WAIT_S):
                        assert (await terminal.receive())[1]["39"] == "91"
        (request_id,) = [request.request_id for request in running.switch.seen]
        (down,) = [line for line in logs if line["event"] == "pending_failed_link_down"]
        assert down["request_ids"] == [request_id]
