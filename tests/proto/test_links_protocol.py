"""proto.links over real TCP: batching, order, back-pressure, and links that go bad.

One end is the module under test; the other is often a raw asyncio socket that reads and
writes link messages byte for byte, so that what crosses the wire is seen as it is. Both are
TLS (the session's PKI, tests/pki_kit.py): the server is "host", the client "switch".
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio
import pytest

from proto.frames import Answer, AnswerBatch, LinkMessage, Ping, Pong, Request, RequestBatch
from proto.link_codec import LENGTH_SIZE, decode_link_body, encode_link_message, take_link_messages
from proto.links import OUTBOX_ITEMS_MAX, LinkClient, LinkPeer, LinkServerLimits, serve_links
from tests.pki_kit import client_tls, server_tls

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[False, True], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    """Both loops: production runs uvloop, whose transports differ in details."""
    return "asyncio", {"use_uvloop": request.param}

# Every wait; all of them end in milliseconds when the links work.
WAIT_S = 5.0


def request(correlation_id: int) -> Request:
    return Request(correlation_id, "0200", "T0000001", "M00000000000001", "000001",
                   "0101120000", 0, pan="6217001234567894", amount=100)


async def read_message(reader: asyncio.StreamReader) -> LinkMessage:
    with anyio.fail_after(WAIT_S):
        length = int.from_bytes(await reader.readexactly(LENGTH_SIZE), "big")
        return decode_link_body(await reader.readexactly(length))


def write_message(writer: asyncio.StreamWriter, message: LinkMessage) -> None:
    writer.write(encode_link_message(message))


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class RawServer:
    """A listener that hands each accepted connection to the test, raw."""

    def __init__(self) -> None:
        self._send, self.accepted = anyio.create_memory_object_stream[Connection](16)
        self.port = 0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._send.send_nowait((reader, writer))

    async def next_connection(self) -> Connection:
        with anyio.fail_after(WAIT_S):
            return await self.accepted.receive()


@asynccontextmanager
async def raw_server() -> AsyncIterator[RawServer]:
    raw = RawServer()
    server = await asyncio.start_server(raw._accept, "127.0.0.1", 0,
                                        ssl=server_tls("host", ("switch",)).context)
    raw.port = server.sockets[0].getsockname()[1]
    try:
        yield raw
    finally:
        server.close()


class Client:
    """A LinkClient and what its callbacks saw."""

    def __init__(self, port: int, **timing: float) -> None:
        self.answers: list[Answer] = []
        self.downs = 0
        self.changed = anyio.Event()
        self.link = LinkClient(f"127.0.0.1:{port}", name="test", on_answers=self._on_answers,
                               on_down=self._on_down, tls=client_tls("switch", "host"),
                               backoff_s_min=0.01, backoff_s_max=0.02, **timing)

    def _on_answers(self, answers: list[Answer]) -> None:
        self.answers += answers
        self._changed()

    def _on_down(self) -> None:
        self.downs += 1
        self._changed()

    def _changed(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    async def wait_for(self, condition) -> None:
        with anyio.fail_after(WAIT_S):
            while not condition():
                await self.changed.wait()


@asynccontextmanager
async def client_of(port: int, **timing: float) -> AsyncIterator[Client]:
    client = Client(port, **timing)
    async with anyio.create_task_group() as group:
        await group.start(client.link.run)
        yield client
        group.cancel_scope.cancel()


class TestSending:
    async def test_sends_of_one_loop_turn_go_out_as_one_message(self) -> None:
        async with raw_server() as server, client_of(server.port) as client:
            reader, _ = await server.next_connection()
            with anyio.fail_after(WAIT_S):
                await client.link.wait_up()
            for correlation_id in range(100):
                assert client.link.send([request(correlation_id)])
            message = await read_message(reader)
            assert isinstance(message, RequestBatch)
            assert [item.correlation_id for item in message.requests] == list(range(100))

    async def test_control_messages_keep_their_place_among_frames(self) -> None:
        async with raw_server() as server, client_of(server.port) as client:
            reader, writer = await server.next_connection()
            with anyio.fail_after(WAIT_S):
                await client.link.wait_up()
            connection = client.link._connection
            assert connection is not None
            assert client.link.send([request(1)])
            connection.put_control(Ping(7))
            assert client.link.send([request(2), request(3)])
            assert client.link.send([request(4)])
            seen = [await read_message(reader) for _ in range(3)]
            assert seen == [RequestBatch([request(1)]), Ping(7),
                            RequestBatch([request(2), request(3), request(4)])]
            # And the other way: answers, then the server's Pong, in one stream.
            write_message(writer, AnswerBatch([Answer(1, "00")]))
            write_message(writer, Pong(7))
            write_message(writer, AnswerBatch([Answer(2, "00"), Answer(3, "00")]))
            await client.wait_for(lambda: len(client.answers) == 3)
            assert [answer.correlation_id for answer in client.answers] == [1, 2, 3]

    async def test_a_link_that_is_down_refuses_frames(self) -> None:
        link = LinkClient("127.0.0.1:1", name="never-run", on_answers=lambda answers: None,
                          on_down=lambda: None, tls=client_tls("switch", "host"))
        assert not link.send([request(1)])
        assert not link.is_up


class Served:
    """serve_links with a handler the test controls."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.seen_more = anyio.Event()
        self.release = anyio.Event()
        self.gone: list[LinkPeer] = []
        self.gone_event = anyio.Event()
        self.hold_first = False

    async def on_requests(self, peer: LinkPeer, requests: list[Request]) -> None:
        self.batches.append([item.correlation_id for item in requests])
        self.seen_more.set()
        self.seen_more = anyio.Event()
        if self.hold_first and len(self.batches) == 1:
            await self.release.wait()
        await peer.send_answers([Answer(item.correlation_id, "00") for item in requests])

    def on_peer_gone(self, peer: LinkPeer) -> None:
        assert not peer.is_open
        self.gone.append(peer)
        self.gone_event.set()

    async def wait_batches(self, count: int) -> None:
        with anyio.fail_after(WAIT_S):
            while len(self.batches) < count:
                await self.seen_more.wait()


@asynccontextmanager
async def served(handler: Served,
                 limits: LinkServerLimits | None = None) -> AsyncIterator[int]:
    async with anyio.create_task_group() as group:
        port = await group.start(partial(serve_links, "127.0.0.1", 0, handler.on_requests,
                                         name="test-server", tls=server_tls("host", ("switch",)),
                                         limits=limits, on_peer_gone=handler.on_peer_gone))
        yield port
        group.cancel_scope.cancel()


async def open_raw(port: int, name: str = "switch", **options: object) -> Connection:
    """A TLS connection with the certificate `name`, as a test writes it byte for byte."""
    with anyio.fail_after(WAIT_S):
        return await asyncio.open_connection(  # type: ignore[arg-type]
            "127.0.0.1", port, ssl=client_tls(name, "host").context, server_hostname="host",
            **options)


class TestBackPressure:
    async def test_a_waiting_handler_holds_the_batches_after_it(self) -> None:
        handler = Served()
        handler.hold_first = True
        async with served(handler) as port:
            reader, writer = await open_raw(port)
            write_message(writer, RequestBatch([request(1)]))
            await handler.wait_batches(1)
            # The handler waits: the batches after it are read, and held (Ping still answered).
            write_message(writer, RequestBatch([request(2)]))
            write_message(writer, RequestBatch([request(3)]))
            write_message(writer, Ping(3))
            assert await read_message(reader) == Pong(3)
            assert handler.batches == [[1]]
            for correlation_id in range(4, 41):   # more than are read ahead: reading pauses
                write_message(writer, RequestBatch([request(correlation_id)]))
            handler.release.set()
            await handler.wait_batches(40)
            assert handler.batches == [[n] for n in range(1, 41)]
            answered: list[int] = []
            while len(answered) < 40:
                message = await read_message(reader)
                assert isinstance(message, AnswerBatch)
                answered += [answer.correlation_id for answer in message.answers]
            assert answered == list(range(1, 41))
            writer.close()

    async def test_send_answers_waits_while_the_peer_does_not_read(self) -> None:
        filled, answered = anyio.Event(), anyio.Event()
        padding = "x" * 1_000
        last_id = 0

        async def flood(peer: LinkPeer, requests: list[Request]) -> None:
            nonlocal last_id
            # Until the transport stops writing (the client does not read) and the outbox is
            # full: sends are refused...
            while peer.send_answers_nowait([Answer(last_id + 1, "00", additional_data=padding)]):
                last_id += 1
                if last_id % 100 == 0:
                    await anyio.sleep(0)   # a loop turn: the outbox is written out
            filled.set()
            # ... and an async send waits for room.
            last_id += 1
            await peer.send_answers([Answer(last_id, "00")])
            answered.set()

        handler = Served()
        handler.on_requests = flood  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        async with served(handler) as port:
            with socket.socket() as sock:   # a client that reads nothing until told
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.setblocking(False)
                with anyio.fail_after(WAIT_S):
                    await loop.sock_connect(sock, ("127.0.0.1", port))
                    reader, writer = await asyncio.open_connection(
                        sock=sock, ssl=client_tls("switch", "host").context,
                        server_hostname="host", limit=4096)
                    writer.write(encode_link_message(RequestBatch([request(1)])))
                    await filled.wait()
                assert last_id > OUTBOX_ITEMS_MAX
                with anyio.move_on_after(0.3):
                    await answered.wait()
                assert not answered.is_set()
                received = bytearray()
                seen: list[int] = []
                with anyio.fail_after(WAIT_S):
                    while not seen or seen[-1] != last_id:
                        received += await reader.read(2**20)
                        messages, taken = take_link_messages(received)
                        del received[:taken]
                        seen += [answer.correlation_id for message in messages
                                 for answer in message.answers]
                assert seen == list(range(1, last_id + 1))
                assert answered.is_set()


class TestBrokenLinks:
    @pytest.mark.parametrize("garbage", [
        (2**32 - 1).to_bytes(4, "big"),        # a length over the limit
        (3).to_bytes(4, "big") + b"\xc1\xc1\xc1",  # a body that is not msgpack
        encode_link_message(RequestBatch([])),  # a request batch, sent to a client
    ])
    async def test_a_malformed_message_ends_the_connection_and_the_client_reconnects(
        self, garbage: bytes
    ) -> None:
        async with raw_server() as server, client_of(server.port) as client:
            reader, writer = await server.next_connection()
            with anyio.fail_after(WAIT_S):
                await client.link.wait_up()
            assert client.link.send([request(1)])
            assert isinstance(await read_message(reader), RequestBatch)
            writer.write(garbage)
            with anyio.fail_after(WAIT_S):
                await reader.read()   # until the client closes the connection
            await client.wait_for(lambda: client.downs == 1)
            reader, writer = await server.next_connection()
            with anyio.fail_after(WAIT_S):
                await client.link.wait_up()
            assert client.link.send([request(3)])
            assert await read_message(reader) == RequestBatch([request(3)])

    async def test_a_malformed_message_from_a_client_closes_its_link_only(self) -> None:
        handler = Served()
        async with served(handler) as port, client_of(port) as client:
            with anyio.fail_after(WAIT_S):
                await client.link.wait_up()
            reader, writer = await open_raw(port)
            writer.write((2**32 - 1).to_bytes(4, "big"))
            with anyio.fail_after(WAIT_S):
                assert await reader.read() == b""
                await handler.gone_event.wait()
            assert len(handler.gone) == 1
            assert client.link.send([request(5)])
            await client.wait_for(lambda: len(client.answers) == 1)
            assert client.downs == 0

    async def test_a_silent_peer_is_found_by_the_probe(self) -> None:
        async with raw_server() as server, \
                client_of(server.port, echo_interval_s=0.05, echo_timeout_s=0.05) as client:
            reader, _ = await server.next_connection()
            assert isinstance(await read_message(reader), Ping)   # never answered
            await client.wait_for(lambda: client.downs == 1)
            reader, writer = await server.next_connection()   # and it reconnects
            with anyio.fail_after(WAIT_S):
                await client.link.wait_up()

    async def test_a_peer_that_answers_probes_stays_linked(self) -> None:
        async with raw_server() as server, \
                client_of(server.port, echo_interval_s=0.02, echo_timeout_s=0.2) as client:
            reader, writer = await server.next_connection()
            for _ in range(3):
                ping = await read_message(reader)
                assert isinstance(ping, Ping)
                write_message(writer, Pong(ping.nonce))
            assert client.downs == 0 and client.link.is_up

    async def test_the_link_to_serve_links_works_both_ways_and_ends_cleanly(self) -> None:
        handler = Served()
        async with served(handler) as port:
            async with client_of(port, echo_interval_s=0.02) as client:
                with anyio.fail_after(WAIT_S):
                    await client.link.wait_up()
                assert client.link.send([request(1), request(2)])
                await client.wait_for(lambda: len(client.answers) == 2)
            with anyio.fail_after(WAIT_S):
                await handler.gone_event.wait()
        assert [answer.correlation_id for answer in client.answers] == [1, 2]


class TestBugs:
    """A bug in a loop callback, ours or a caller's handler's, is not logged by the loop and
    forgotten: the coroutine that owns the connection raises it, ending the service."""

    async def test_a_bug_in_on_answers_ends_the_client(self) -> None:
        def broken(answers: list[Answer]) -> None:
            raise AssertionError("broken invariant")

        async def answer_once(server: RawServer) -> None:
            _, writer = await server.next_connection()
            write_message(writer, AnswerBatch([Answer(1, "00")]))

        async with raw_server() as server, anyio.create_task_group() as group:
            link = LinkClient(f"127.0.0.1:{server.port}", name="test", on_answers=broken,
                              on_down=lambda: None, tls=client_tls("switch", "host"))
            group.start_soon(answer_once, server)
            with anyio.fail_after(WAIT_S), \
                    pytest.raises(AssertionError, match="broken invariant"):
                await link.run()

    async def test_a_frame_that_does_not_encode_ends_the_client(self) -> None:
        async with raw_server() as server, anyio.create_task_group() as group:
            link = LinkClient(f"127.0.0.1:{server.port}", name="test",
                              on_answers=lambda answers: None, on_down=lambda: None,
                              tls=client_tls("switch", "host"))

            async def send_unencodable() -> None:
                with anyio.fail_after(WAIT_S):
                    await link.wait_up()
                bad = Request(1, "0200", "T0000001", "M00000000000001", "000001",
                              "0101120000", 0, pan=object())  # type: ignore[arg-type]
                assert link.send([bad])   # taken: it fails in the loop's flush callback

            group.start_soon(send_unencodable)
            with anyio.fail_after(WAIT_S), pytest.raises(TypeError):
                await link.run()

    @pytest.mark.parametrize("where", ["on_requests", "on_peer_gone"])
    async def test_a_bug_in_a_server_handler_ends_serve_links(self, where: str) -> None:
        handler = Served()

        def broken(*args: object) -> None:
            raise AssertionError("broken invariant")

        async def broken_async(*args: object) -> None:
            broken()

        setattr(handler, where, broken_async if where == "on_requests" else broken)
        with pytest.RaisesGroup(pytest.RaisesExc(AssertionError, match="broken invariant"),
                                flatten_subgroups=True):
            async with served(handler) as port:
                _, writer = await open_raw(port)
                write_message(writer, RequestBatch([request(1)]))
                writer.close()   # the connection's end calls on_peer_gone, in a loop callback
                with anyio.fail_after(WAIT_S):
                    await anyio.sleep_forever()   # until serve_links' failure cancels this
