"""A 0500 with several hosts: sent to every host as parts, answered with the parts' merge, 91
when a part cannot be had (switch/forwarder.py, fan_out.py). Real TCP links to fake hosts that
answer a part with the totals they are given, a fake front, real PostgreSQL."""

from __future__ import annotations

from typing import cast

import anyio
import msgspec
import pytest
from prometheus_client import REGISTRY

from proto.frames import Answer, Request, Totals
from proto.links import LinkPeer
from switch.fan_out import FanOut
from switch.service import run_switch
from tests.switch.test_service import (
    HOST_STARTUP_WAIT_S_SHORT,
    PAN_B,
    WAIT_S,
    FakeFront,
    FakeHost,
    closed_port,
    insert_ranges,
    request,
    running,
    switch_config,
)

pytestmark = pytest.mark.anyio

A_TOTALS = Totals(purchases_count=1, purchases_fen=1_000)
B_TOTALS = Totals(purchases_count=2, purchases_fen=2_500, returns_count=1, returns_fen=300)
SUM = Totals(purchases_count=3, purchases_fen=3_500, returns_count=1, returns_fen=300)


class PartHost(FakeHost):
    """Answers a reconciliation part with its code (its own comparison unless `code` is
    given) and its totals; other frames as FakeHost."""

    def __init__(self, name: str, totals: Totals, *, code: str | None = None,
                 answering: bool = True) -> None:
        super().__init__(name, answering=answering)
        self.totals = totals
        self.code = code

    async def _on_requests(self, peer: LinkPeer, requests: list[Request]) -> None:
        self.seen.extend(requests)
        self._seen_more.set()
        self._seen_more = anyio.Event()
        if self.answering:
            await peer.send_answers([self._answer(item) for item in requests])

    def _answer(self, item: Request) -> Answer:
        if item.mti != "0500":
            return Answer(item.correlation_id, "00", additional_data=self.name)
        code = self.code or ("00" if item.totals == self.totals else "95")
        return Answer(item.correlation_id, code, totals=self.totals)


def reconciliation(claimed: Totals) -> Request:
    return msgspec.structs.replace(request(None, mti="0500"), processing_code="920000",
                                   batch_number=1, totals=claimed)


def merged_count(outcome: str) -> float:
    return REGISTRY.get_sample_value("jifen_switch_reconciliations_total",
                                     {"outcome": outcome}) or 0.0


class TestMerged:
    async def test_every_host_gets_a_part_and_the_front_the_sum(
        self, database_url: str
    ) -> None:
        before = merged_count("balanced_00"), merged_count("out_of_balance_95")
        async with running(database_url, PartHost("a", A_TOTALS),
                           PartHost("b", B_TOTALS)) as setup:
            right, wrong = reconciliation(SUM), reconciliation(A_TOTALS)
            balanced, out = await setup.front.ask([right, wrong])
            for host in setup.hosts.values():
                assert [(item.stan, item.reconciliation_parts, item.totals)
                        for item in host.seen] == [(right.stan, 2, SUM),
                                                   (wrong.stan, 2, A_TOTALS)]
            assert setup.switch.forwarder.pending_count("a") == 0
            assert setup.switch.forwarder.pending_count("b") == 0
        assert (balanced.response_code, balanced.totals) == ("00", None)
        assert (out.response_code, out.totals) == ("95", SUM)
        assert [answer.request_id for answer in (balanced, out)] == [right.request_id,
                                                                     wrong.request_id]
        assert (merged_count("balanced_00"), merged_count("out_of_balance_95")) == (
            before[0] + 1, before[1] + 1)

    async def test_every_part_12_is_12_and_a_mix_is_91(self, database_url: str) -> None:
        async with running(database_url, PartHost("a", A_TOTALS, code="12"),
                           PartHost("b", B_TOTALS, code="12")) as setup:
            (agreed,) = await setup.front.ask([reconciliation(SUM)])
            setup.hosts["b"].code = None   # type: ignore[attr-defined]
            (mixed,) = await setup.front.ask([reconciliation(SUM)])
        assert (agreed.response_code, mixed.response_code) == ("12", "91")

    async def test_with_one_host_a_0500_goes_whole_and_its_answer_back_as_is(
        self, database_url: str
    ) -> None:
        async with running(database_url, PartHost("a", A_TOTALS)) as setup:
            sent = reconciliation(SUM)
            (answer,) = await setup.front.ask([sent])
            [seen] = setup.hosts["a"].seen
        assert seen.reconciliation_parts == 0
        assert (answer.response_code, answer.totals) == ("95", A_TOTALS)


class TestAPartMissing:
    async def test_a_host_down_gets_91_and_no_part_is_sent(self, database_url: str) -> None:
        await insert_ranges(database_url)
        host_a = PartHost("a", A_TOTALS)
        addresses = {"a": "", "b": f"127.0.0.1:{closed_port()}"}
        async with anyio.create_task_group() as group:
            addresses["a"] = f"127.0.0.1:{await group.start(host_a.serve)}"
            config = switch_config(addresses, host_startup_wait_s=HOST_STARTUP_WAIT_S_SHORT)
            front = FakeFront(await group.start(run_switch, config, database_url))
            await group.start(front.link.run)
            with anyio.fail_after(WAIT_S):
                await front.link.wait_up()
            (answer,) = await front.ask([reconciliation(A_TOTALS)])
            group.cancel_scope.cancel()
        assert answer.response_code == "91"
        assert host_a.seen == []

    async def test_a_host_lost_with_its_part_answers_91_at_once_and_the_others_part_is_late(
        self, database_url: str
    ) -> None:
        async with running(database_url, PartHost("a", A_TOTALS, answering=False),
                           PartHost("b", B_TOTALS, answering=False)) as setup:
            sent = reconciliation(SUM)
            setup.front.send([sent])
            await setup.hosts["a"].wait_seen(1)
            await setup.hosts["b"].wait_seen(1)
            setup.hosts["b"].stop()
            (answer,) = await setup.front.wait_answers([sent])
            assert answer.response_code == "91"
            forwarder = setup.switch.forwarder
            assert (forwarder.pending_count("a"), forwarder.pending_count("b")) == (1, 0)
            # a's part, answered after the fan-out: dropped, the front answered once.
            part_id = setup.hosts["a"].seen[0].correlation_id
            forwarder.on_host_answers("a", [Answer(part_id, "00", totals=A_TOTALS)])
            assert forwarder.pending_count("a") == 0

    async def test_a_part_past_its_deadline_answers_91(self, database_url: str) -> None:
        async with running(database_url, PartHost("a", A_TOTALS),
                           PartHost("b", B_TOTALS, answering=False)) as setup:
            sent = reconciliation(SUM)
            setup.front.send([sent])
            await setup.hosts["b"].wait_seen(1)
            forwarder = setup.switch.forwarder
            with anyio.fail_after(WAIT_S):
                while forwarder.pending_count("a"):
                    await anyio.sleep(0.01)
            assert sent.correlation_id not in setup.front.answers
            assert forwarder.sweep(anyio.current_time() + 31.0) == 1
            (answer,) = await setup.front.wait_answers([sent])
        assert answer.response_code == "91"

    async def test_a_host_without_room_refuses_the_whole_fan_out(
        self, database_url: str
    ) -> None:
        async with running(database_url, PartHost("a", A_TOTALS),
                           PartHost("b", B_TOTALS, answering=False),
                           pending_requests_max=1) as setup:
            setup.front.send([request(PAN_B)])
            await setup.hosts["b"].wait_seen(1)
            (answer,) = await setup.front.ask([reconciliation(SUM)])
            assert answer.response_code == "91"
            assert setup.hosts["a"].seen == []
            assert setup.switch.forwarder.pending_count("b") == 1


class TestFanOutAlone:
    """fan_out.py without links: decided once, when every part is in or one is missing."""

    def test_decided_when_the_last_part_comes(self) -> None:
        fan_out = FanOut(_NO_PEER, 7, "r-7", SUM, ("a", "b", "c"))
        assert fan_out.record("b", Answer(0, "95", totals=B_TOTALS)) is None
        assert fan_out.record("a", Answer(0, "95", totals=A_TOTALS)) is None
        merged = fan_out.record("c", Answer(0, "00", totals=Totals()))
        assert merged is not None and fan_out.answered
        assert fan_out.answer(merged) == Answer(7, "00", request_id="r-7")

    def test_decided_at_once_by_a_part_missing_and_never_again(self) -> None:
        fan_out = FanOut(_NO_PEER, 7, "r-7", SUM, ("a", "b", "c"))
        assert fan_out.record("a", Answer(0, "00", totals=SUM)) is None
        merged = fan_out.record("b", None)
        assert merged is not None and merged.response_code == "91"
        assert fan_out.record("c", Answer(0, "00", totals=Totals())) is None

    def test_a_part_answering_91_is_missing(self) -> None:
        fan_out = FanOut(_NO_PEER, 7, "r-7", SUM, ("a", "b"))
        merged = fan_out.record("a", Answer(0, "91"))
        assert merged is not None and merged.response_code == "91"


_NO_PEER: LinkPeer = cast(LinkPeer, None)   # the forwarder's business, not the fan-out's
