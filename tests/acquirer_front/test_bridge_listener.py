"""The front's listener for dial-up bridges on other machines (`[front] bridge_listen`): mutual
TLS, only a bridge's certificate ("dialup") of our CA, and then a terminal connection like any
other, within the same limits.

Each test fails on the front of before, which had no such listener (the setting was unknown).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import anyio
import pytest
from anyio.streams.tls import TLSStream
from prometheus_client import REGISTRY

from proto.tls import ClientTls
from tests.acquirer_front.front_testkit import (
    T_NEW,
    WAIT_S,
    TerminalClient,
    fetch_value,
    frame,
    network,
    purchase,
    running_front,
)
from tests.pki_kit import client_tls, foreign_pki

pytestmark = pytest.mark.anyio

BRIDGE_LISTEN = "127.0.0.1:0"


def refused_count(reason: str) -> float:
    return REGISTRY.get_sample_value("jifen_front_refused_connections_total",
                                     {"reason": reason}) or 0.0


def open_connections() -> float:
    return REGISTRY.get_sample_value("jifen_front_open_connections") or 0.0


def bridge_tls(name: str = "dialup", directory: Path | None = None) -> ClientTls:
    """A client as the bridge makes it: its certificate, the front's name checked."""
    return client_tls(name, "front", directory)


async def refused(port: int, tls: ClientTls | ssl.SSLContext | None) -> bool:
    """Connect (plain, or with `tls`), send a purchase, and say whether the front ended the
    connection without answering: in the handshake, by a TLS alert, or by closing it."""
    try:
        with anyio.fail_after(WAIT_S):
            if tls is None:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            elif isinstance(tls, ssl.SSLContext):
                stream = await anyio.connect_tcp("127.0.0.1", port, ssl_context=tls,
                                                 tls_standard_compatible=False)
            else:
                stream = await anyio.connect_tcp(
                    "127.0.0.1", port, ssl_context=tls.context, tls_hostname=tls.server_name,
                    tls_standard_compatible=False)
    except (ssl.SSLError, ConnectionError, anyio.BrokenResourceError, anyio.EndOfStream):
        return True
    async with stream:
        try:
            await stream.send(frame(purchase()))
            with anyio.fail_after(WAIT_S):
                data = await stream.receive()
        except (ssl.SSLError, ConnectionError, anyio.BrokenResourceError, anyio.EndOfStream):
            return True
    raise AssertionError(f"answered: {data!r}")


class TestABridgeIsATerminal:
    async def test_a_bridges_certificate_signs_on_and_transacts(self, database_url: str) -> None:
        opened_before = open_connections()
        async with running_front(database_url, bridge_listen=BRIDGE_LISTEN) as running:
            assert running.bridge_port not in (None, running.port)
            async with TerminalClient.connect(running.bridge_port, bridge_tls()) as bridge:
                # The same order of checks as on the terminal port: 58 before the sign-on.
                assert (await bridge.request(purchase(terminal=T_NEW)))["39"] == "58"
                answer = await bridge.request(network("001", terminal=T_NEW))
                assert (answer["t"], answer["39"]) == ("0810", "00")
                assert await fetch_value(
                    database_url,
                    "SELECT signed_on FROM terminal_sessions WHERE terminal_code = $1", T_NEW,
                ) is True
                answer = await bridge.request(purchase(terminal=T_NEW, stan="000002"))
                assert (answer["t"], answer["39"]) == ("0210", "00")
                assert open_connections() == opened_before + 1
            assert running.switch is not None
            assert [request.mti for request in running.switch.seen] == ["0800", "0200"]

    async def test_the_bridges_share_the_terminals_limits(self, database_url: str) -> None:
        before = refused_count("connections_per_source_max")
        async with running_front(database_url, bridge_listen=BRIDGE_LISTEN,
                                 connections_per_source_max=1) as running:
            async with TerminalClient.connect(running.port) as terminal:
                assert (await terminal.request(purchase()))["39"] == "00"
                assert await refused(running.bridge_port, bridge_tls())
        assert refused_count("connections_per_source_max") == before + 1

    async def test_without_bridge_listen_there_is_no_second_port(self, database_url: str
                                                                 ) -> None:
        async with running_front(database_url) as running:
            assert running.bridge_port is None


class TestTheTlsLayer:
    """Where a TLS transport differs from a plain one, on both event loops: the services run
    on uvloop, whose TLS layer ends a connection on the peer's FIN without eof_received;
    asyncio's calls it, and warns when a protocol asks to keep a TLS connection open."""

    @pytest.fixture(params=[True, False], ids=["uvloop", "asyncio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
        return "asyncio", {"use_uvloop": request.param}

    async def test_a_bridge_waiting_for_its_answer_is_not_taken_for_a_stuck_one(
        self, database_url: str
    ) -> None:
        """A TLS transport's writer pauses at size >= high: with the plain port's mark of 0, a
        bridge's connection counted as not taking its answers from each request read on, and
        was dropped (write_failed) before a slow answer came."""
        async with running_front(database_url, bridge_listen=BRIDGE_LISTEN, switch="silent",
                                 answer_timeout_s=0.5, answer_write_timeout_s=0.1) as running:
            async with TerminalClient.connect(running.bridge_port, bridge_tls()) as bridge:
                assert (await bridge.request(purchase()))["39"] == "91"
                assert (await bridge.request(purchase(stan="000002")))["39"] == "91"

    async def test_a_bridge_that_hangs_up_with_a_request_in_flight_is_closed(
        self, database_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """TLS has no half-close: the front does not keep the connection for the answer (the
        TLS layer shuts it both ways, and warns when a protocol asks otherwise)."""
        async with running_front(database_url, bridge_listen=BRIDGE_LISTEN, switch="silent",
                                 answer_timeout_s=0.5) as running:
            opened_before = open_connections()
            async with TerminalClient.connect(running.bridge_port, bridge_tls()) as bridge:
                await bridge.send(purchase())
                assert running.switch is not None
                await running.switch.wait_seen(1)
                assert open_connections() == opened_before + 1
                assert isinstance(bridge.stream, TLSStream)
                await bridge.stream.transport_stream.send_eof()   # TCP's FIN, nothing more
                await bridge.expect_closed()
            with anyio.fail_after(WAIT_S):
                while open_connections() > opened_before:
                    await anyio.sleep(0.01)
            await anyio.sleep(0.6)   # the answer (91) comes, and finds the connection gone
        assert [record.getMessage() for record in caplog.records
                if record.name == "asyncio"] == []


class TestWhoMayConnect:
    async def test_plain_tcp_is_refused(self, database_url: str) -> None:
        async with running_front(database_url, bridge_listen=BRIDGE_LISTEN) as running:
            assert await refused(running.bridge_port, None)
            assert running.switch is not None and running.switch.seen == []

    async def test_a_certificate_of_another_service_is_refused(self, database_url: str) -> None:
        before = refused_count("peer_name")
        async with running_front(database_url, bridge_listen=BRIDGE_LISTEN) as running:
            # A valid certificate of our CA, but the switch's: only bridges use this port.
            assert await refused(running.bridge_port, bridge_tls("switch"))
            assert running.switch is not None and running.switch.seen == []
        assert refused_count("peer_name") == before + 1

    async def test_a_bridges_certificate_of_another_ca_is_refused(self, database_url: str
                                                                  ) -> None:
        async with running_front(database_url, bridge_listen=BRIDGE_LISTEN) as running:
            assert await refused(running.bridge_port, bridge_tls(directory=foreign_pki()))
            assert running.switch is not None and running.switch.seen == []

    async def test_a_client_without_a_certificate_is_refused(self, database_url: str) -> None:
        anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        anonymous.check_hostname = False
        anonymous.verify_mode = ssl.CERT_NONE
        async with running_front(database_url, bridge_listen=BRIDGE_LISTEN) as running:
            assert await refused(running.bridge_port, anonymous)
            assert running.switch is not None and running.switch.seen == []
