"""The links' mutual TLS and the limits a link server sets on one peer (issue: security).

Each test fails on the plain-TCP links of before: a forged message over plain TCP, a client
of another CA or of the wrong name, a server of another CA, a connection past the limit, a
quiet one, and a message far over the size limit were all served.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

import anyio
import pytest
from prometheus_client import REGISTRY

from proto.frames import Answer, Request, RequestBatch
from proto.link_codec import encode_link_message
from proto.links import LinkClient, LinkServerLimits
from proto.tls import ServerTls
from tests.pki_kit import client_tls, foreign_pki, server_tls
from tests.proto.test_links_protocol import WAIT_S, Client, Served, open_raw, request, served

pytestmark = pytest.mark.anyio


def closed_count(reason: str, link: str = "test-server") -> float:
    value = REGISTRY.get_sample_value(
        "jifen_link_connections_closed_total", {"link": link, "reason": reason})
    return value or 0.0


async def closed_by_server(reader: asyncio.StreamReader, *, answered: bool = False) -> bool:
    """True once the server has ended the connection (EOF, reset or a TLS alert) having sent
    nothing (or something, when `answered`); fails past WAIT_S."""
    try:
        with anyio.fail_after(WAIT_S):
            return (await reader.read() != b"") == answered
    except (ConnectionError, ssl.SSLError):
        return True


async def forged_then_closed(port: int, open_connection: Callable[[], object]) -> bool:
    """Connect as told, send a request batch, and say whether the server closed on us."""
    try:
        reader, writer = await open_connection()  # type: ignore[misc]
    except (ConnectionError, ssl.SSLError):
        return True   # refused during the handshake
    writer.write(encode_link_message(RequestBatch([request(1)])))
    return await closed_by_server(reader)


class TestWhoMayConnect:
    async def test_a_forged_message_over_plain_tcp_is_refused(self) -> None:
        handler = Served()
        async with served(handler) as port:
            async def plain() -> object:
                return await asyncio.open_connection("127.0.0.1", port)
            assert await forged_then_closed(port, plain)
        assert handler.batches == []

    async def test_a_client_certificate_of_another_ca_is_refused(self) -> None:
        handler = Served()
        async with served(handler) as port:
            async def foreign() -> object:
                context = client_tls("switch", "host", foreign_pki()).context
                return await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                     server_hostname="host")
            assert await forged_then_closed(port, foreign)
        assert handler.batches == []

    async def test_a_client_without_a_certificate_is_refused(self) -> None:
        handler = Served()
        async with served(handler) as port:
            async def anonymous() -> object:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                return await asyncio.open_connection("127.0.0.1", port, ssl=context)
            assert await forged_then_closed(port, anonymous)
        assert handler.batches == []

    async def test_a_valid_certificate_of_the_wrong_name_is_refused(self) -> None:
        handler = Served()
        before = closed_count("peer_name")
        async with served(handler) as port:
            async def front() -> object:
                return await open_raw(port, name="front")   # a front talking to a host
            assert await forged_then_closed(port, front)
        assert handler.batches == []
        assert closed_count("peer_name") == before + 1

    async def test_the_allowed_name_is_served(self) -> None:
        handler = Served()
        async with served(handler) as port:
            _, writer = await open_raw(port, name="switch")
            writer.write(encode_link_message(RequestBatch([request(1)])))
            await handler.wait_batches(1)
            writer.close()

    async def test_a_client_refuses_a_server_of_another_ca(self) -> None:
        await _refused_as_the_host(server_tls("host", ("switch",), foreign_pki()))

    async def test_a_client_refuses_a_server_of_the_wrong_name(self) -> None:
        await _refused_as_the_host(server_tls("front", ("switch",)))   # our CA, not the host


async def _refused_as_the_host(impostor: ServerTls) -> None:
    """A client that expects the host refuses `impostor`'s server: counted, never up, and it
    sends nothing there."""
    before = closed_count("tls_refused", link="test")
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0,
                                        ssl=impostor.context)
    port = server.sockets[0].getsockname()[1]
    try:
        client = Client(port)
        async with anyio.create_task_group() as group:
            await group.start(client.link.run)
            with anyio.fail_after(WAIT_S):
                while closed_count("tls_refused", link="test") == before:
                    await anyio.sleep(0.01)
            assert not client.link.is_up
            assert not client.link.send([request(1)])
            group.cancel_scope.cancel()
    finally:
        server.close()


class TestLimits:
    async def test_connections_past_the_limit_are_closed(self) -> None:
        handler = Served()
        before = closed_count("connections_max")
        async with served(handler, LinkServerLimits(connections_max=2)) as port:
            first = [await open_raw(port) for _ in range(2)]
            for _, writer in first:
                writer.write(encode_link_message(RequestBatch([request(1)])))
            await handler.wait_batches(2)
            reader, writer = await open_raw(port)
            writer.write(encode_link_message(RequestBatch([request(2)])))
            assert await closed_by_server(reader)
            assert closed_count("connections_max") == before + 1
            for _, writer in first:
                writer.close()
        assert len(handler.batches) == 2

    async def test_a_quiet_connection_is_closed_after_the_idle_timeout(self) -> None:
        handler = Served()
        before = closed_count("idle_timeout")
        async with served(handler, LinkServerLimits(idle_timeout_s=0.2)) as port:
            reader, writer = await open_raw(port)
            writer.write(encode_link_message(RequestBatch([request(1)])))
            await handler.wait_batches(1)
            assert await closed_by_server(reader, answered=True)
        assert closed_count("idle_timeout") == before + 1

    async def test_a_probing_client_outlives_the_idle_timeout(self) -> None:
        handler = Served()
        async with served(handler, LinkServerLimits(idle_timeout_s=0.3)) as port:
            client = Client(port, echo_interval_s=0.05, echo_timeout_s=0.05)
            async with anyio.create_task_group() as group:
                await group.start(client.link.run)
                with anyio.fail_after(WAIT_S):
                    await client.link.wait_up()
                await anyio.sleep(0.8)   # the span under test: past the idle timeout twice
                assert client.downs == 0
                group.cancel_scope.cancel()

    async def test_a_message_over_the_size_limit_closes_the_connection(self) -> None:
        handler = Served()
        before = closed_count("message_size")
        async with served(handler) as port:
            reader, writer = await open_raw(port)
            writer.write((1024 * 1024 + 1).to_bytes(4, "big"))
            assert await closed_by_server(reader)
        assert closed_count("message_size") == before + 1
        assert handler.batches == []

    async def test_a_big_batch_is_split_to_fit_the_size_limit(self) -> None:
        handler = Served()
        size_max = 64 * 1024
        async with served(handler, LinkServerLimits(message_size_max=size_max)) as port:
            answers: list[Answer] = []
            done = anyio.Event()

            def on_answers(batch: list[Answer]) -> None:
                answers.extend(batch)
                if len(answers) == 2_000:
                    done.set()

            link = LinkClient(f"127.0.0.1:{port}", name="test", on_answers=on_answers,
                              on_down=lambda: None, tls=client_tls("switch", "host"),
                              message_size_max=size_max)
            async with anyio.create_task_group() as group:
                await group.start(link.run)
                with anyio.fail_after(WAIT_S):
                    await link.wait_up()
                requests: list[Request] = [request(i) for i in range(2_000)]
                assert link.send(requests)
                with anyio.fail_after(WAIT_S):
                    await done.wait()
                group.cancel_scope.cancel()
        assert len(handler.batches) > 1
        assert sorted(i for batch in handler.batches for i in batch) == list(range(2_000))
