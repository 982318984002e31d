"""A bridge on another machine reaches the front over mutual TLS (`[dialup] front_tls`, the
front's `bridge_listen`): its certificate "dialup", the front's checked by name; on real ptys,
real TLS and the whole system behind the front.

Each test fails on the bridge of before, which spoke plain TCP only (front_tls was unknown).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from devices.dialup.modem_emulator import Side
from devices.errors import HostConnectionError
from dialup.bridge import DialupBridge
from dialup.config import DialupConfig
from dialup.errors import FrontUnavailableError
from dialup.front import FrontEndpoint
from proto.errors import LinkTlsError
from proto.framing import Tpdu
from proto.iso_codec import encode_iso
from tests.dialup.bridge_harness import dialup_system
from tests.dialup.equipment import WAIT_S
from tests.e2e.system import CARDS
from tests.pki_kit import foreign_pki, server_tls, tls_fields

pytestmark = pytest.mark.anyio

AMOUNT_FEN = 12_345
POINTS = 123  # the test merchant earns 1 point per yuan


def front_requests_answered() -> float:
    """Requests the front answered, a bridge's counted as any terminal's."""
    return sum(sample.value for metric in REGISTRY.collect()
               if metric.name == "jifen_front_requests" for sample in metric.samples
               if sample.name == "jifen_front_requests_total")


class TestADialledTransactionOverTls:
    async def test_sign_on_and_purchase_are_approved_end_to_end(self, database_url):
        answered_before = front_requests_answered()
        async with dialup_system(database_url, front_tls=True) as dialup:
            config = dialup.bridge.config
            assert config.front_tls and config.front_address == \
                f"127.0.0.1:{dialup.system.front_bridge_port}"
            async with dialup.terminal() as terminal:
                assert (await terminal.sign_on())["39"] == "00"
                answer = await terminal.purchase(CARDS[0], AMOUNT_FEN)
                assert (answer["t"], answer["39"]) == ("0210", "00")
            ended = await dialup.call_ended()
            assert (ended.requests, ended.delivered) == (2, 2)
            assert await dialup.points(CARDS[0]) == POINTS
            assert await dialup.transactions() == [("0200", answer["11"])]
        assert front_requests_answered() == answered_before + 2

    async def test_an_undelivered_approval_is_reversed_over_tls(self, database_url):
        async with dialup_system(database_url, front_tls=True) as dialup:
            async with dialup.terminal() as terminal:
                await terminal.sign_on()
                # The bridge's ACK of the request, then 5 bytes of the answer: cut.
                dialup.emulators[0].drop_carrier_after(Side.TERMINAL, 1 + 5)
                with pytest.raises(HostConnectionError):
                    await terminal.purchase(CARDS[1], AMOUNT_FEN)
            reversal = await dialup.reversal_settled()
            assert (reversal.outcome, reversal.response_code) == ("approved", "00")
            assert [mti for mti, _ in await dialup.transactions()] == ["0200", "0400"]
            assert await dialup.points(CARDS[1]) == 0


@asynccontextmanager
async def impostor_front(pki_dir: Path | None, name: str) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A TLS server with the certificate `name` of `pki_dir`'s CA, accepting our bridge's
    certificate; yields its port and what it received on connections whose handshake
    succeeded."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            received.append(await reader.read(4096))
        except (ConnectionError, ssl.SSLError):
            received.append(b"")
        writer.close()

    tls = server_tls(name, ("dialup",), pki_dir)
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls.context)
    try:
        yield server.sockets[0].getsockname()[1], received
    finally:
        server.close()


def bridge_endpoint(port: int) -> FrontEndpoint:
    return FrontEndpoint.from_config(DialupConfig(
        front_address=f"127.0.0.1:{port}", front_connect_timeout_s=WAIT_S, front_tls=True,
        **tls_fields("dialup")))


class TestTheBridgeChecksTheFront:
    @pytest.mark.parametrize(("pki_dir", "name"), [
        (None, "switch"),            # our CA, not the front
        ("foreign", "front"),        # the front's name, another CA
    ], ids=["another_name", "another_ca"])
    async def test_a_front_that_is_not_ours_gets_no_request(self, pki_dir, name):
        message = encode_iso({"t": "0800", "11": "000001", "41": "TERM0001", "70": "301"})
        async with impostor_front(foreign_pki() if pki_dir else None, name) as (port, received):
            async with bridge_endpoint(port).connection() as front:
                with pytest.raises(FrontUnavailableError, match="certificate verify failed"):
                    await front.exchange(Tpdu(1, 0), message, ("0810", "TERM0001", "000001"),
                                         WAIT_S)
        assert received == []   # its handshake failed: not even a connection was served

    def test_a_bridge_without_its_tls_files_does_not_start(self, tmp_path: Path):
        config = DialupConfig(front_address="10.0.0.1:8593", front_tls=True,
                              tls_cert_file=str(tmp_path / "dialup.crt"),
                              tls_key_file=str(tmp_path / "dialup.key"),
                              tls_ca_file=str(tmp_path / "ca.crt"))
        with pytest.raises(LinkTlsError, match="dialup.crt is missing"):
            DialupBridge(config)
