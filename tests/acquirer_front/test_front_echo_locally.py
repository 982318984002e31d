"""FrontConfig.answer_echo_locally: the bare front ceiling of `jifen loadtest`. The front answers
echoes itself (no switch at all here), after its checks, and forwards nothing else."""

from __future__ import annotations

import pytest

from tests.acquirer_front.front_testkit import (
    T_NEW,
    T_UNKNOWN,
    TerminalClient,
    network,
    purchase,
    running_front,
)

pytestmark = pytest.mark.anyio


class TestAnswerEchoLocally:
    async def test_echo_is_answered_00_without_a_switch(self, database_url: str) -> None:
        async with running_front(database_url, switch="absent", answer_echo_locally=True) as front:
            async with TerminalClient.connect(front.port) as terminal:
                answer = await terminal.request(network("301", terminal=T_NEW, stan="000007"))
        assert answer["t"] == "0810"
        assert (answer["39"], answer["11"], answer["41"], answer["70"]) == \
            ("00", "000007", T_NEW, "301")

    async def test_checks_still_come_first(self, database_url: str) -> None:
        async with running_front(database_url, switch="absent", answer_echo_locally=True) as front:
            async with TerminalClient.connect(front.port) as terminal:
                answer = await terminal.request(network("301", terminal=T_UNKNOWN))
        assert answer["39"] == "58"

    async def test_other_requests_are_still_forwarded(self, database_url: str) -> None:
        async with running_front(database_url, switch="absent", answer_echo_locally=True) as front:
            async with TerminalClient.connect(front.port) as terminal:
                sign_on = await terminal.request(network("001"))
                financial = await terminal.request(purchase())
        assert (sign_on["39"], financial["39"]) == ("91", "91")  # no switch to forward to

    async def test_off_by_default(self, database_url: str) -> None:
        async with running_front(database_url, switch="absent") as front:
            async with TerminalClient.connect(front.port) as terminal:
                answer = await terminal.request(network("301"))
        assert answer["39"] == "91"
