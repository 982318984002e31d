"""The host's link port against a forger (issue: security): one hand-built msgpack batch (a
stored-value load from an unregistered terminal) used to be approved and journaled. Now the
link is mutual TLS and only a "switch" certificate of our CA is served; and the MTIs a link
sends cannot create metric series without end."""

from __future__ import annotations

import asyncio
import random
import ssl

import anyio
import pytest
from prometheus_client import REGISTRY

from proto.codes import ProcessingCode
from proto.frames import Request, RequestBatch
from proto.link_codec import encode_link_message
from proto.links import parse_address
from proto.messages import LABELLED_MTIS
from tests.account_host.host_harness import CARDS, Terminal, fetchval, running_host
from tests.pki_kit import client_tls, foreign_pki

pytestmark = pytest.mark.anyio

WAIT_S = 5.0


def forged_load() -> Request:
    terminal = Terminal(terminal_code="NOTREG01", merchant_code="NOTREGISTERED01")
    return terminal.request("0200", processing_code=ProcessingCode.STORED_VALUE_LOAD,
                            pan=CARDS[0], amount=1_000_000, currency="156", batch_number=1,
                            entry_mode="051")


async def answered(open_connection: object) -> bytes:
    """Send the forged load on the connection; what came back before the host closed it."""
    try:
        with anyio.fail_after(WAIT_S):
            reader, writer = await open_connection  # type: ignore[misc]
    except (ConnectionError, ssl.SSLError):
        return b""
    writer.write(encode_link_message(RequestBatch([forged_load()])))
    try:
        with anyio.fail_after(WAIT_S):
            return await reader.read()
    except (ConnectionError, ssl.SSLError):
        return b""
    finally:
        writer.close()


async def nothing_recorded(url: str) -> None:
    assert await fetchval(url, "SELECT count(*) FROM transactions") == 0
    assert await fetchval(url, "SELECT count(*) FROM host_requests "
                          "WHERE terminal_code = 'NOTREG01'") == 0


@pytest.mark.parametrize("peer", ["plain_tcp", "foreign_ca", "front_name"])
async def test_a_forged_link_message_is_refused_and_nothing_is_journaled(
    seeded_url: str, peer: str
) -> None:
    async with running_host(seeded_url) as host:
        address, port = parse_address(host.link.address)
        if peer == "plain_tcp":
            connection = asyncio.open_connection(address, port)
        elif peer == "foreign_ca":
            connection = asyncio.open_connection(
                address, port, ssl=client_tls("switch", "host", foreign_pki()).context,
                server_hostname="host")
        else:   # a valid certificate, of a front: only switches talk to a host
            connection = asyncio.open_connection(
                address, port, ssl=client_tls("front", "host").context, server_hostname="host")
        assert await answered(connection) == b""
        # The real switch's link is untouched.
        assert (await host.ask(Terminal().sign_on())).response_code == "00"
    await nothing_recorded(seeded_url)


def mti_labels() -> set[str]:
    return {sample.labels["mti"] for metric in REGISTRY.collect()
            if metric.name == "jifen_host_requests" for sample in metric.samples}


async def test_random_mtis_from_a_link_give_a_bounded_number_of_series(seeded_url: str) -> None:
    rng = random.Random(8583)
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        await host.ask(terminal.sign_on())
        mtis = {f"{rng.randrange(10_000):04d}" for _ in range(100)} - LABELLED_MTIS
        answers = await host.ask_many([terminal.request(mti) for mti in sorted(mtis)])
    assert len(answers) == len(mtis) > 90
    labels = mti_labels()
    assert "other" in labels
    assert labels <= LABELLED_MTIS | {"other"}
