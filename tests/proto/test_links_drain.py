"""proto.links' drain over real TCP: a link server that is asked to stop tells its clients
`Closing`, answers every request that reached it before their `ClosingSeen`, then closes each
connection; by its deadline at the latest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio
import pytest

from proto.drain import Drain
from proto.frames import AnswerBatch, Closing, ClosingSeen, RequestBatch
from proto.links import serve_links
from tests.pki_kit import server_tls
from tests.proto.test_links_protocol import (
    WAIT_S,
    Served,
    client_of,
    open_raw,
    read_message,
    request,
    write_message,
)

pytestmark = pytest.mark.anyio


class Draining:
    """serve_links with a drain; `returned` once it has returned by itself."""

    def __init__(self, timeout_s: float) -> None:
        self.drain = Drain(timeout_s)
        self.returned = anyio.Event()
        self.port = 0


@asynccontextmanager
async def draining_server(handler: Served, timeout_s: float = WAIT_S,
                          ) -> AsyncIterator[Draining]:
    server = Draining(timeout_s)

    async def serve(*, task_status: anyio.abc.TaskStatus[int]) -> None:
        await serve_links("127.0.0.1", 0, handler.on_requests, name="test-server",
                          tls=server_tls("host", ("switch",)), on_peer_gone=handler.on_peer_gone,
                          drain=server.drain, task_status=task_status)
        server.returned.set()

    async with anyio.create_task_group() as group:
        server.port = await group.start(serve)
        yield server
        group.cancel_scope.cancel()


async def test_requests_in_flight_are_answered_before_the_link_closes() -> None:
    handler = Served()
    handler.hold_first = True   # the first batch waits in the handler (a commit in flight)
    async with draining_server(handler) as server, client_of(server.port) as client:
        with anyio.fail_after(WAIT_S):
            await client.link.wait_up()
        assert client.link.send([request(1), request(2)])
        await handler.wait_batches(1)
        server.drain.ask()
        with anyio.fail_after(WAIT_S):
            while client.link.is_up:   # told Closing: down for new requests
                await anyio.sleep(0.001)
        assert client.link.peer_stopping
        assert not client.link.send([request(3)])
        assert client.downs == 0 and not server.returned.is_set()
        handler.release.set()
        await client.wait_for(lambda: client.downs == 1)
        with anyio.fail_after(WAIT_S):
            await server.returned.wait()
    assert [answer.correlation_id for answer in client.answers] == [1, 2]
    assert handler.batches == [[1, 2]]


async def test_a_request_sent_before_closing_was_seen_is_answered() -> None:
    handler = Served()
    async with draining_server(handler) as server:
        reader, writer = await open_raw(server.port)
        write_message(writer, RequestBatch([request(1)]))
        assert isinstance(await read_message(reader), AnswerBatch)
        server.drain.ask()
        assert isinstance(await read_message(reader), Closing)
        # Crossing the Closing on the wire: sent before the client had read it.
        write_message(writer, RequestBatch([request(2)]))
        write_message(writer, ClosingSeen())
        answers = await read_message(reader)
        assert isinstance(answers, AnswerBatch)
        assert [answer.correlation_id for answer in answers.answers] == [2]
        with anyio.fail_after(WAIT_S):
            assert await reader.read() == b""   # then closed, cleanly
            await server.returned.wait()
        writer.close()


async def test_new_connections_are_refused_while_draining() -> None:
    handler = Served()
    async with draining_server(handler) as server:
        reader, writer = await open_raw(server.port)
        server.drain.ask()
        assert isinstance(await read_message(reader), Closing)
        with pytest.raises(OSError):
            await open_raw(server.port)
        writer.close()


async def test_a_client_that_never_says_closing_seen_is_closed_at_the_deadline() -> None:
    handler = Served()
    async with draining_server(handler, timeout_s=0.2) as server:
        reader, writer = await open_raw(server.port)
        started = anyio.current_time()   # before ask(), which sets the deadline
        server.drain.ask()
        assert isinstance(await read_message(reader), Closing)
        with anyio.fail_after(WAIT_S):
            await server.returned.wait()
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await reader.readexactly(1)
        # the loop may fire a timer up to its clock's resolution early: allow 10 ms
        assert 0.19 <= anyio.current_time() - started < WAIT_S
        writer.close()


async def test_without_a_drain_serve_links_runs_until_cancelled() -> None:
    handler = Served()
    async with anyio.create_task_group() as group:
        port = await group.start(partial(serve_links, "127.0.0.1", 0, handler.on_requests,
                                         name="test-server", tls=server_tls("host", ("switch",))))
        reader, writer = await open_raw(port)
        write_message(writer, RequestBatch([request(1)]))
        assert isinstance(await read_message(reader), AnswerBatch)
        group.cancel_scope.cancel()
    writer.close()
