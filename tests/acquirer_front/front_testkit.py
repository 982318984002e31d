"""Test kit for the front: seeded database, a fake switch, a raw-socket terminal.

A plain module (not a conftest) so tests can import its builders; the directory has no
__init__.py, so it is importable by its own name, which must not clash with a package.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio
import asyncpg
import msgspec
from anyio.abc import ByteStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from acquirer_front import FrontConfig, run_front
from proto.codes import ResponseCode
from proto.frames import Answer, Balances, Request
from proto.framing import Tpdu, encode_frame, read_frame
from proto.iso_codec import IsoMessage, decode_iso, encode_iso
from proto.links import LinkPeer, serve_links
from proto.tls import ClientTls
from tests.pki_kit import foreign_pki, server_tls, tls_fields

# Every wait in these tests; each finishes in milliseconds when the front works.
WAIT_S = 5.0

ALLIANCE = "ALLIANCE1"
MERCHANT = "M00000000000001"            # active, owns T_SIGNED and T_NEW
MERCHANT_INACTIVE = "M00000000000002"   # inactive, owns T_OF_INACTIVE
T_SIGNED = "T0000001"                   # registered and signed on
T_NEW = "T0000002"                      # registered, never signed on
T_OF_INACTIVE = "T0000003"              # signed on, but its merchant is inactive
T_UNKNOWN = "T0000099"
PAN = "6217001234567894"
TPDU = Tpdu(destination_nii=0x0001, source_nii=0x0203)

SEED_SQL = f"""
INSERT INTO alliances (code, name, requires_mac_for_loads)
    VALUES ('{ALLIANCE}', 'Test alliance', false);
INSERT INTO merchants (merchant_code, alliance_id, name, active)
    SELECT '{MERCHANT}', id, 'Shop', true FROM alliances;
INSERT INTO merchants (merchant_code, alliance_id, name, active)
    SELECT '{MERCHANT_INACTIVE}', id, 'Closed shop', false FROM alliances;
INSERT INTO terminals (terminal_code, merchant_id, requires_mac)
    SELECT code, m.id, false FROM merchants m, (VALUES ('{T_SIGNED}'), ('{T_NEW}')) AS t (code)
    WHERE m.merchant_code = '{MERCHANT}';
INSERT INTO terminals (terminal_code, merchant_id, requires_mac)
    SELECT '{T_OF_INACTIVE}', id, false FROM merchants WHERE merchant_code = '{MERCHANT_INACTIVE}';
INSERT INTO terminal_sessions (terminal_code, signed_on)
    VALUES ('{T_SIGNED}', true), ('{T_OF_INACTIVE}', true);
"""

TEST_CONFIG = FrontConfig(
    listen_port=0, answer_timeout_s=WAIT_S, frame_complete_timeout_s=WAIT_S,
    link_startup_wait_s=WAIT_S, database_timeout_s=WAIT_S, **tls_fields("front"),
)


async def seed(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(SEED_SQL)
    finally:
        await connection.close()


async def fetch_value(database_url: str, query: str, *args: object) -> object:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


# ---- messages a terminal sends ------------------------------------------------------------

def network(code: str = "001", *, terminal: str = T_SIGNED, stan: str = "000001") -> IsoMessage:
    return {"t": "0800", "7": "0101120000", "11": stan, "41": terminal, "42": MERCHANT,
            "70": code}


def purchase(
    *, terminal: str = T_SIGNED, merchant: str = MERCHANT, stan: str = "000001",
    amount: str = "000000001000",
) -> IsoMessage:
    return {
        "t": "0200", "2": PAN, "3": "000000", "4": amount, "7": "0101120000", "11": stan,
        "12": "120000", "13": "0101", "22": "051", "25": "00", "41": terminal, "42": merchant,
        "49": "156", "60": "000001",
    }


def frame(fields: IsoMessage, tpdu: Tpdu = TPDU) -> bytes:
    return encode_frame(tpdu, encode_iso(fields))


# ---- the fake switch ----------------------------------------------------------------------

class FakeSwitch:
    """Answers 00 to everything (sign-ons with batch 1, financials with balances), or, when
    silent, nothing; records every request it received."""

    def __init__(self, *, answering: bool = True, pki_dir: Path | None = None) -> None:
        self.answering = answering
        self._tls = server_tls("switch", ("front",), pki_dir)
        self.seen: list[Request] = []
        self._seen_more = anyio.Event()
        self._scope = anyio.CancelScope()

    async def _on_requests(self, peer: LinkPeer, requests: list[Request]) -> None:
        self.seen.extend(requests)
        self._seen_more.set()
        self._seen_more = anyio.Event()
        if self.answering:
            await peer.send_answers([_approve(request) for request in requests])

    async def wait_seen(self, count: int) -> None:
        with anyio.fail_after(WAIT_S):
            while len(self.seen) < count:
                await self._seen_more.wait()

    async def serve(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        with self._scope:
            await serve_links("127.0.0.1", 0, self._on_requests, name="fake-switch",
                              tls=self._tls, task_status=task_status)

    def stop(self) -> None:
        """Close the listener and every link: the front sees its link go down."""
        self._scope.cancel()


def _approve(request: Request) -> Answer:
    if request.mti == "0800":
        return Answer(request.correlation_id, ResponseCode.APPROVED, batch_number=1)
    return Answer(
        request.correlation_id, ResponseCode.APPROVED, rrn="000000000001", auth_code="A00001",
        balances=Balances(points=1234, stored_value_fen=5000, points_moved=10),
        additional_data="PT003+10",
    )


def unused_port() -> int:
    """A port nobody listens on (bound then released), for an absent switch."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RunningFront(msgspec.Struct):
    port: int
    switch: FakeSwitch | None
    bridge_port: int | None = None   # with bridge_listen


@asynccontextmanager
async def running_front(
    database_url: str, *, switch: str = "answering", **config_changes: object
) -> AsyncIterator[RunningFront]:
    """A seeded database, a fake switch ("answering", "silent", "absent", or "impostor": one
    that answers, with a "switch" certificate of another CA) and the front."""
    await seed(database_url)
    async with anyio.create_task_group() as group:
        fake = None
        if switch == "absent":
            address = f"127.0.0.1:{unused_port()}"
            config_changes.setdefault("link_startup_wait_s", 0.0)
        else:
            fake = FakeSwitch(answering=switch != "silent",
                              pki_dir=foreign_pki() if switch == "impostor" else None)
            address = f"127.0.0.1:{await group.start(fake.serve)}"
        config = msgspec.structs.replace(TEST_CONFIG, switch_address=address, **config_changes)
        bridge_ports: list[int] = []
        port = await group.start(partial(run_front, config, database_url,
                                         on_bridge_listening=bridge_ports.append))
        yield RunningFront(port, fake, bridge_ports[0] if bridge_ports else None)
        group.cancel_scope.cancel()


# ---- a terminal on a raw socket -----------------------------------------------------------

class TerminalClient:
    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self._buffered = BufferedByteReceiveStream(stream)

    @classmethod
    @asynccontextmanager
    async def connect(cls, port: int, tls: ClientTls | None = None
                      ) -> AsyncIterator[TerminalClient]:
        """A plain connection, or with `tls` one as a dial-up bridge makes (no TLS closing
        handshake, as `dialup.front`)."""
        with anyio.fail_after(WAIT_S):
            if tls is None:
                stream: ByteStream = await anyio.connect_tcp("127.0.0.1", port)
            else:
                stream = await anyio.connect_tcp(
                    "127.0.0.1", port, ssl_context=tls.context, tls_hostname=tls.server_name,
                    tls_standard_compatible=False)
        async with stream:
            yield cls(stream)

    async def send(self, fields: IsoMessage) -> None:
        await self.stream.send(frame(fields))

    async def receive(self) -> tuple[Tpdu, IsoMessage]:
        with anyio.fail_after(WAIT_S):
            tpdu, body = await read_frame(self._buffered)
        return tpdu, decode_iso(body)

    async def request(self, fields: IsoMessage) -> IsoMessage:
        await self.send(fields)
        return (await self.receive())[1]

    async def expect_closed(self) -> None:
        """The front closed the connection (FIN or RST), without sending anything."""
        with anyio.fail_after(WAIT_S):
            try:
                data = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
        raise AssertionError(f"expected a close, got {data!r}")
