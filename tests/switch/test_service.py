"""The switch end to end: real TCP links to fake hosts and a fake front, real PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import anyio
import asyncpg
import msgspec
import pytest
from anyio.abc import TaskStatus
from structlog.testing import capture_logs

from proto.frames import Answer, Request
from proto.links import LinkClient, LinkPeer, serve_links
from switch.config import SwitchConfig
from switch.reload import APPLICATION_NAME
from switch.service import Switch, run_switch
from tests.pki_kit import client_tls, server_tls, tls_fields

pytestmark = pytest.mark.anyio

# Every wait in these tests; all of them finish in milliseconds when the switch works.
WAIT_S = 5.0
# The switch's wait for its host links at start, where one of them never comes up: several of
# the links' reconnect attempts (backoff at most 0.05 s), and no test waits the default 5 s.
HOST_STARTUP_WAIT_S_SHORT = 0.3

PAN_A = "6217001234567894"   # in 621700-621799 -> host a (also the default host)
PAN_B = "6228001234567893"   # in 622800-622899 -> host b
PAN_NONE = "9999001234567890"  # no range -> default host a

_correlation_ids = itertools.count(1)


def request(pan: str | None, *, mti: str = "0200") -> Request:
    correlation_id = next(_correlation_ids)
    return Request(
        correlation_id=correlation_id, request_id=f"5w1tc4e5-{correlation_id:x}", mti=mti,
        terminal_code="T0000001",
        # A STAN of its own: one key for all would be one request retransmitted, which a
        # switch with several hosts sends where the first went (switch/key_memory.py).
        merchant_code="M00000000000001", stan=f"{correlation_id % 1_000_000:06d}",
        transmission_time="0101120000",
        received_at_ns=0, processing_code="000000" if pan else None, pan=pan,
        amount=100 if pan else None, currency="156" if pan else None,
        network_code=None if pan else "001",
    )


class FakeHost:
    """An account host stand-in: answers 00 naming itself in field 48, or holds every request
    unanswered; records what it saw."""

    def __init__(self, name: str, *, answering: bool = True, tls_name: str = "host") -> None:
        self.name = name
        self.tls_name = tls_name  # the name of the certificate it serves with
        self.answering = answering
        self.seen: list[Request] = []
        self._seen_more = anyio.Event()
        self.scope: anyio.CancelScope | None = None
        self.port = 0

    async def _on_requests(self, peer: LinkPeer, requests: list[Request]) -> None:
        self.seen.extend(requests)
        self._seen_more.set()
        self._seen_more = anyio.Event()
        if self.answering:
            await peer.send_answers(
                [Answer(item.correlation_id, "00", additional_data=self.name) for item in requests])

    async def wait_seen(self, count: int) -> None:
        with anyio.fail_after(WAIT_S):
            while len(self.seen) < count:
                await self._seen_more.wait()

    async def serve(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve on self.port (0 the first time; the same port when restarted)."""
        with anyio.CancelScope() as self.scope:
            async with anyio.create_task_group() as group:
                self.port = await group.start(partial(
                    serve_links, "127.0.0.1", self.port, self._on_requests,
                    name=f"fake-{self.name}", tls=server_tls(self.tls_name, ("switch",))))
                task_status.started(self.port)

    def stop(self) -> None:
        assert self.scope is not None
        self.scope.cancel()


class FakeFront:
    """The acquirer front's side of its link to the switch."""

    def __init__(self, switch_port: int) -> None:
        self.answers: dict[int, Answer] = {}
        self._answered = anyio.Event()
        self.link = LinkClient(f"127.0.0.1:{switch_port}", name="fake-front",
                               on_answers=self._on_answers, on_down=lambda: None,
                               tls=client_tls("front", "switch"))

    def _on_answers(self, answers: list[Answer]) -> None:
        for answer in answers:
            assert answer.correlation_id not in self.answers, "answered twice"
            self.answers[answer.correlation_id] = answer
        self._answered.set()
        self._answered = anyio.Event()

    def send(self, requests: list[Request]) -> None:
        assert self.link.send(requests)

    async def wait_answers(self, requests: list[Request]) -> list[Answer]:
        with anyio.fail_after(WAIT_S):
            while any(item.correlation_id not in self.answers for item in requests):
                await self._answered.wait()
        return [self.answers[item.correlation_id] for item in requests]

    async def ask(self, requests: list[Request]) -> list[Answer]:
        self.send(requests)
        return await self.wait_answers(requests)


class Setup(msgspec.Struct):
    switch: Switch
    switch_port: int
    front: FakeFront
    hosts: dict[str, FakeHost]
    group: anyio.abc.TaskGroup


async def execute(database_url: str, *statements: str) -> None:
    with anyio.fail_after(WAIT_S):
        connection = await asyncpg.connect(database_url)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()


async def insert_ranges(database_url: str) -> None:
    await execute(database_url, "INSERT INTO card_ranges (bin_low, bin_high, host_name) VALUES "
                  "('621700', '621799', 'a'), ('622800', '622899', 'b')")


def switch_config(addresses: dict[str, str], **overrides: object) -> SwitchConfig:
    return SwitchConfig(**{  # type: ignore[arg-type]
        **tls_fields("switch"), "listen_port": 0, "hosts": addresses, "default_host": "a",
        "host_answer_timeout_s": 30.0, "reconnect_backoff_s_min": 0.01,
        "reconnect_backoff_s_max": 0.05, **overrides})


@asynccontextmanager
async def running(
    database_url: str, *hosts: FakeHost, before_run: Callable[[Switch], None] | None = None,
    **overrides: object,
) -> AsyncIterator[Setup]:
    """Fake hosts, the switch (with every host link up) and a front linked to it."""
    await insert_ranges(database_url)
    async with anyio.create_task_group() as group:
        for host in hosts:
            await group.start(host.serve)
        switch = Switch(switch_config(
            {host.name: f"127.0.0.1:{host.port}" for host in hosts}, **overrides), database_url)
        if before_run is not None:
            before_run(switch)
        switch_port = await group.start(switch.run)
        front = FakeFront(switch_port)
        await group.start(front.link.run)
        with anyio.fail_after(WAIT_S):
            for link in [*switch.links.values(), front.link]:
                await link.wait_up()
        yield Setup(switch, switch_port, front, {host.name: host for host in hosts}, group)
        group.cancel_scope.cancel()


def closed_port() -> int:
    """A port nothing listens on (connections to it are refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestRouting:
    async def test_requests_go_to_the_host_of_their_card_range(self, database_url: str) -> None:
        async with running(database_url, FakeHost("a"), FakeHost("b")) as setup:
            requests = [request(PAN_A), request(PAN_B), request(PAN_B), request(PAN_A)]
            answers = await setup.front.ask(requests)
            assert [answer.additional_data for answer in answers] == ["a", "b", "b", "a"]
            assert all(answer.response_code == "00" for answer in answers)
            assert [item.pan for item in setup.hosts["b"].seen] == [PAN_B, PAN_B]
            assert [item.pan for item in setup.hosts["a"].seen] == [PAN_A, PAN_A]

    async def test_the_host_sees_switch_ids_and_the_front_gets_its_own(
        self, database_url: str
    ) -> None:
        async with running(database_url, FakeHost("a"), FakeHost("b")) as setup:
            requests = [request(PAN_A), request(PAN_A)]
            answers = await setup.front.ask(requests)
            assert [answer.correlation_id for answer in answers] == \
                [item.correlation_id for item in requests]
            seen = setup.hosts["a"].seen
            assert len({item.correlation_id for item in seen}) == 2
            assert [msgspec.structs.replace(item, correlation_id=0) for item in seen] == \
                [msgspec.structs.replace(item, correlation_id=0) for item in requests]
            assert setup.switch.forwarder.pending_count("a") == 0

    async def test_requests_without_a_pan_or_a_range_go_to_the_default_host(
        self, database_url: str
    ) -> None:
        """A 0500 has no PAN either, but with several hosts it goes to all (test_fan_out.py)."""
        async with running(database_url, FakeHost("a"), FakeHost("b")) as setup:
            requests = [request(None, mti="0800"), request(PAN_NONE)]
            answers = await setup.front.ask(requests)
            assert [answer.additional_data for answer in answers] == ["a", "a"]
            assert setup.hosts["b"].seen == []

    async def test_a_range_change_notified_reroutes(self, database_url: str) -> None:
        async with running(database_url, FakeHost("a"), FakeHost("b")) as setup:
            assert (await setup.front.ask([request(PAN_A)]))[0].additional_data == "a"
            version = setup.switch.routes.version
            await execute(database_url,
                          "UPDATE card_ranges SET host_name = 'b' WHERE bin_low = '621700'",
                          "NOTIFY jifen_changes, 'card_ranges'")
            with anyio.fail_after(WAIT_S):
                await setup.switch.routes.wait_version_above(version)
            assert (await setup.front.ask([request(PAN_A)]))[0].additional_data == "b"

    async def test_ranges_are_reread_after_the_listen_connection_is_lost(
        self, database_url: str
    ) -> None:
        async with running(database_url, FakeHost("a"), FakeHost("b"),
                           database_retry_interval_s=0.01) as setup:
            version = setup.switch.routes.version
            # A change without a notification: only the re-read after reconnecting finds it.
            await execute(
                database_url,
                "UPDATE card_ranges SET host_name = 'b' WHERE bin_low = '621700'",
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE application_name = '{APPLICATION_NAME}' AND datname = current_database()")
            with anyio.fail_after(WAIT_S):
                await setup.switch.routes.wait_version_above(version)
            assert (await setup.front.ask([request(PAN_A)]))[0].additional_data == "b"
            # And the new connection listens.
            version = setup.switch.routes.version
            await execute(database_url,
                          "UPDATE card_ranges SET host_name = 'a' WHERE bin_low = '621700'",
                          "NOTIFY jifen_changes, 'card_ranges'")
            with anyio.fail_after(WAIT_S):
                await setup.switch.routes.wait_version_above(version)
            assert (await setup.front.ask([request(PAN_A)]))[0].additional_data == "a"

    async def test_a_range_naming_an_unconfigured_host_is_answered_91(
        self, database_url: str
    ) -> None:
        await execute(database_url, "INSERT INTO card_ranges (bin_low, bin_high, host_name) "
                      "VALUES ('9999', '9999', 'nowhere')")
        async with running(database_url, FakeHost("a"), FakeHost("b")) as setup:
            answers = await setup.front.ask([request(PAN_NONE), request(PAN_B)])
            assert [answer.response_code for answer in answers] == ["91", "00"]
            assert setup.hosts["a"].seen == []


class TestHostFailures:
    async def test_a_host_that_is_down_gets_91_at_once(self, database_url: str) -> None:
        await insert_ranges(database_url)
        host_a = FakeHost("a")
        addresses = {"a": "", "b": f"127.0.0.1:{closed_port()}"}
        async with anyio.create_task_group() as group:
            addresses["a"] = f"127.0.0.1:{await group.start(host_a.serve)}"
            # The switch gives host links a moment to come up before it serves fronts (5 s by
            # default): b never does, so a short moment, still waited out whole.
            config = switch_config(addresses, host_startup_wait_s=HOST_STARTUP_WAIT_S_SHORT)
            switch_port = await group.start(run_switch, config, database_url)
            front = FakeFront(switch_port)
            await group.start(front.link.run)
            with anyio.fail_after(WAIT_S):
                await front.link.wait_up()
            # Host timeout is 30 s: an answer within WAIT_S is the immediate one.
            answers = await front.ask([request(PAN_B), request(PAN_B)])
            assert [answer.response_code for answer in answers] == ["91", "91"]
            group.cancel_scope.cancel()

    async def test_a_host_stopping_mid_flight_gets_its_pending_requests_91_and_comes_back(
        self, database_url: str
    ) -> None:
        async with running(database_url, FakeHost("a"), FakeHost("b", answering=False)) as setup:
            host_b = setup.hosts["b"]
            held = [request(PAN_B), request(PAN_B), request(PAN_B)]
            setup.front.send(held)
            await host_b.wait_seen(len(held))
            assert setup.switch.forwarder.pending_count("b") == len(held)
            host_b.stop()
            answers = await setup.front.wait_answers(held)
            assert [answer.response_code for answer in answers] == ["91"] * len(held)
            assert setup.switch.forwarder.pending_count("b") == 0
            # Meanwhile host a serves on; then b comes back on its port, without a restart.
            assert (await setup.front.ask([request(PAN_A)]))[0].response_code == "00"
            host_b.answering = True
            await setup.group.start(host_b.serve)
            with anyio.fail_after(WAIT_S):
                await setup.switch.links["b"].wait_up()
            answers = await setup.front.ask([request(PAN_B)])
            assert (answers[0].response_code, answers[0].additional_data) == ("00", "b")

    async def test_requests_beyond_the_pending_limit_get_91(self, database_url: str) -> None:
        async with running(database_url, FakeHost("a"), FakeHost("b", answering=False),
                           pending_requests_max=2) as setup:
            forwarder = setup.switch.forwarder
            requests = [request(PAN_B) for _ in range(3)]
            setup.front.send(requests)
            answers = await setup.front.wait_answers(requests[2:])
            assert answers[0].response_code == "91"
            await setup.hosts["b"].wait_seen(2)
            assert forwarder.pending_count("b") == 2

    async def test_expired_entries_are_swept_and_late_answers_dropped(
        self, database_url: str
    ) -> None:
        async with running(database_url, FakeHost("a"), FakeHost("b", answering=False)) as setup:
            forwarder = setup.switch.forwarder
            held = [request(PAN_B)]
            setup.front.send(held)
            await setup.hosts["b"].wait_seen(1)
            assert forwarder.sweep(anyio.current_time()) == 0
            assert forwarder.sweep(anyio.current_time() + 31.0) == 1
            assert forwarder.pending_count("b") == 0
            switch_id = setup.hosts["b"].seen[0].correlation_id
            forwarder.on_host_answers("b", [Answer(switch_id, "00")])   # late: dropped
            assert held[0].correlation_id not in setup.front.answers


class TestFrontGone:
    async def test_pending_entries_of_a_front_that_goes_away_are_forgotten(
        self, database_url: str
    ) -> None:
        gone = anyio.Event()

        def observe_front_gone(switch: Switch) -> None:
            forget = switch.forwarder.on_front_gone

            def on_front_gone(peer: LinkPeer) -> None:
                forget(peer)
                gone.set()

            switch.forwarder.on_front_gone = on_front_gone  # type: ignore[method-assign]

        async with running(database_url, FakeHost("a"), FakeHost("b", answering=False),
                           before_run=observe_front_gone) as setup:
            second = FakeFront(setup.switch_port)
            async with anyio.create_task_group() as second_group:
                await second_group.start(second.link.run)
                with anyio.fail_after(WAIT_S):
                    await second.link.wait_up()
                second.send([request(PAN_B), request(PAN_B)])
                setup.front.send([request(PAN_B)])
                await setup.hosts["b"].wait_seen(3)
                assert setup.switch.forwarder.pending_count("b") == 3
                second_group.cancel_scope.cancel()
            with anyio.fail_after(WAIT_S):
                await gone.wait()
            assert setup.switch.forwarder.pending_count("b") == 1


class TestRequestIds:
    async def test_each_request_id_reaches_its_host_and_comes_back_on_its_answer(
        self, database_url: str
    ) -> None:
        async with running(database_url, FakeHost("a"), FakeHost("b")) as setup:
            requests = [request(PAN_A), request(PAN_B)]
            with capture_logs() as logs:
                answers = await setup.front.ask(requests)
            ids = [item.request_id for item in requests]
            assert [item.request_id for item in setup.hosts["a"].seen + setup.hosts["b"].seen] \
                == ids
            # The fake hosts answer without it: the switch puts back the request's.
            assert [answer.request_id for answer in answers] == ids
            lines = {(line["event"], line.get("request_id")) for line in logs}
            assert {(event, request_id) for event in ("forwarded", "answer_returned")
                    for request_id in ids} <= lines

    async def test_the_switchs_own_91s_carry_the_request_id_and_name_it_in_the_log(
        self, database_url: str
    ) -> None:
        async with running(database_url, FakeHost("a"), FakeHost("b", answering=False),
                           pending_requests_max=1) as setup:
            held = request(PAN_B)
            setup.front.send([held])
            await setup.hosts["b"].wait_seen(1)
            over = request(PAN_B)
            with capture_logs() as logs:
                (refused,) = await setup.front.ask([over])
                setup.hosts["b"].stop()
                (lost,) = await setup.front.wait_answers([held])
            assert (refused.response_code, refused.request_id) == ("91", over.request_id)
            assert (lost.response_code, lost.request_id) == ("91", held.request_id)
            by_event = {line["event"]: line for line in logs}
            assert by_event["host_pending_full"]["request_ids"] == [over.request_id]
            assert by_event["host_down_pending_answered"]["request_ids"] == [held.request_id]


class TestHostCertificateNames:
    async def test_a_host_can_be_held_to_a_certificate_of_its_own(
        self, database_url: str
    ) -> None:
        async with running(database_url, FakeHost("a"), FakeHost("b", tls_name="host-b"),
                           host_tls_names={"b": "host-b"}) as setup:
            answers = await setup.front.ask([request(PAN_A), request(PAN_B)])
            assert [answer.additional_data for answer in answers] == ["a", "b"]

    async def test_another_hosts_certificate_is_refused(self, database_url: str) -> None:
        """Host b presents the certificate every host shares ("host") where "host-b" is
        expected: its link never comes up, and its cards get no answer from an impostor."""
        await insert_ranges(database_url)
        async with anyio.create_task_group() as group:
            hosts = [FakeHost("a"), FakeHost("b")]
            for host in hosts:
                await group.start(host.serve)
            switch = Switch(switch_config(
                {host.name: f"127.0.0.1:{host.port}" for host in hosts},
                host_tls_names={"b": "host-b"}, host_startup_wait_s=0), database_url)
            await group.start(switch.run)
            with anyio.fail_after(WAIT_S):
                await switch.links["a"].wait_up()
            await anyio.sleep(0.5)  # several reconnect attempts (backoff at most 0.05 s)
            assert not switch.links["b"].is_up and hosts[1].seen == []
            group.cancel_scope.cancel()

    async def test_names_for_hosts_that_do_not_exist_are_refused(self) -> None:
        with pytest.raises(ValueError, match=r"host_tls_names names hosts .*\['c'\]"):
            SwitchConfig(hosts={"a": "127.0.0.1:1"}, default_host="a",
                         host_tls_names={"c": "host-c"})


async def test_a_default_host_that_is_not_configured_is_refused() -> None:
    with pytest.raises(ValueError, match="default_host 'a' is not one of the hosts"):
        SwitchConfig(hosts={"b": "127.0.0.1:1"}, default_host="a")
