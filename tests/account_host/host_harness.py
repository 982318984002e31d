"""Test harness of the account host: seed data, a host running on port 0, and a link client
that talks to it like the switch does (real TCP, real PostgreSQL).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import anyio
import asyncpg
import msgspec

from account_host import HostConfig, run_host
from account_host.database import writer_application_name
from proto.frames import Answer, Request
from proto.links import LinkClient
from proto.pan import luhn_check_digit
from tests.keys_kit import sealed_columns
from tests.pki_kit import client_tls, tls_fields

# Every wait in these tests; each finishes in milliseconds when the host works.
WAIT_S = 10.0
# How often a test looks at pg_stat_activity while waiting for the host to block on a lock.
_POLL_S = 0.01

MERCHANT = "MERCHANT0000001"
ZERO_RATE_MERCHANT = "MERCHANT0000002"
TERMINAL = "TERM0001"
ZERO_RATE_TERMINAL = "TERM0002"
BIN = "622188"


def make_pan(serial: int, bin_: str = BIN, length: int = 16) -> str:
    partial = f"{bin_}{serial:0{length - len(bin_) - 1}d}"
    return partial + luhn_check_digit(partial)


CARDS = [make_pan(serial) for serial in range(1, 21)]
LOST_CARD = make_pan(90)
STOLEN_CARD = make_pan(91)
BLOCKED_CARD = make_pan(92)
EXPIRED_CARD = make_pan(93)
UNISSUED_CARD = make_pan(99)
OTHER_RANGE_CARD = make_pan(1, bin_="622999")   # issued, but in no range of host 'main'

SEED_SQL = f"""
INSERT INTO alliances (code, name) VALUES ('TEST', 'Test alliance');
INSERT INTO merchants (merchant_code, alliance_id, name, earn_points_per_yuan)
SELECT code, (SELECT id FROM alliances), name, rate
FROM (VALUES ('{MERCHANT}', 'Tea house', 1), ('{ZERO_RATE_MERCHANT}', 'Post office', 0))
     AS m(code, name, rate);
INSERT INTO terminals (terminal_code, merchant_id)
SELECT t, (SELECT id FROM merchants WHERE merchant_code = m)
FROM (VALUES ('{TERMINAL}', '{MERCHANT}'), ('{ZERO_RATE_TERMINAL}', '{ZERO_RATE_MERCHANT}'))
     AS x(t, m);
INSERT INTO card_ranges (bin_low, bin_high, host_name) VALUES ('{BIN}', '{BIN}', 'main');
"""


async def insert_cards(
    connection: asyncpg.Connection, cards: list[tuple[str, str, str]]
) -> None:
    """(pan, status, expires_on) rows of the one alliance."""
    columns = await sealed_columns(connection, [pan for pan, _, _ in cards])
    await connection.executemany(
        "INSERT INTO cards (pan_hmac, pan_sealed, pan_masked, alliance_id, status, expires_on) "
        "VALUES ($1, $2, $3, (SELECT id FROM alliances), $4, $5::text::date)",
        [(*sealed, status, expires) for sealed, (_, status, expires)
         in zip(columns, cards, strict=True)])


class HostClient:
    """The switch's side of a link to the host: send requests, wait for their answers."""

    def __init__(self, port: int) -> None:
        self._correlation_ids = itertools.count(1)
        self.answers: dict[int, Answer] = {}
        self._answered = anyio.Event()
        self.link = LinkClient(f"127.0.0.1:{port}", name="test-switch",
                               on_answers=self._on_answers, on_down=lambda: None,
                               tls=client_tls("switch", "host"))

    def _on_answers(self, answers: list[Answer]) -> None:
        for answer in answers:
            assert answer.correlation_id not in self.answers, "answered twice"
            self.answers[answer.correlation_id] = answer
        self._answered.set()
        self._answered = anyio.Event()

    def send(self, requests: list[Request]) -> list[Request]:
        """Stamp correlation ids and send; returns the stamped requests."""
        stamped = [msgspec.structs.replace(request, correlation_id=next(self._correlation_ids))
                   for request in requests]
        assert self.link.send(stamped)
        return stamped

    async def wait_answers(self, requests: list[Request]) -> list[Answer]:
        with anyio.fail_after(WAIT_S):
            while any(request.correlation_id not in self.answers for request in requests):
                await self._answered.wait()
        return [self.answers[request.correlation_id] for request in requests]

    async def ask_many(self, requests: list[Request]) -> list[Answer]:
        return await self.wait_answers(self.send(requests))

    async def ask(self, request: Request) -> Answer:
        return (await self.ask_many([request]))[0]


async def ask_until(host: HostClient, make_request: object, response_code: str) -> Answer:
    """Ask (a fresh request each time) until the answer has `response_code`: the host applies
    a notification asynchronously, and the answer is the only thing that shows it."""
    assert callable(make_request)
    with anyio.fail_after(WAIT_S):
        while True:
            request: Request = make_request()
            answer = await host.ask(request)
            if answer.response_code == response_code:
                return answer
            await anyio.sleep(0.02)


class Terminal:
    """Builds the requests one terminal sends, each with a new STAN."""

    def __init__(self, terminal_code: str = TERMINAL, merchant_code: str = MERCHANT) -> None:
        self.terminal_code = terminal_code
        self.merchant_code = merchant_code
        self._stans = itertools.count(1)
        self.transmission_time = datetime.now(UTC).strftime("%m%d%H%M%S")

    def request(self, mti: str, **fields: object) -> Request:
        return Request(
            correlation_id=0, mti=mti, terminal_code=self.terminal_code,
            merchant_code=self.merchant_code, stan=f"{next(self._stans):06d}",
            transmission_time=self.transmission_time, received_at_ns=0, **fields)

    def sign_on(self) -> Request:
        return self.request("0800", network_code="001")

    def inquiry(self, pan: str) -> Request:
        return self.request("0100", processing_code="310000", pan=pan, entry_mode="051")

    def purchase(self, pan: str, amount_fen: int, batch_number: int | None = 1) -> Request:
        return self.request("0200", processing_code="000000", pan=pan, amount=amount_fen,
                            currency="156", batch_number=batch_number, entry_mode="051")


def host_config(**changes: object) -> HostConfig:
    return HostConfig(**{  # type: ignore[arg-type]
        **tls_fields("host"), "listen_port": 0, "metrics_port": 0,
        "reconnect_backoff_s_max": 0.2, **changes})


@asynccontextmanager
async def running_host(
    database_url: str, config: HostConfig | None = None
) -> AsyncIterator[HostClient]:
    """run_host in a task group, and a connected client; cancelled on exit."""
    async with anyio.create_task_group() as group:
        with anyio.fail_after(WAIT_S):
            port = await group.start(run_host, config or host_config(), database_url)
        client = HostClient(port)
        await group.start(client.link.run)
        with anyio.fail_after(WAIT_S):
            await client.link.wait_up()
        yield client
        group.cancel_scope.cancel()


async def fetch(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


async def transaction_amounts(database_url: str) -> list[int]:
    """Field 4 of every journaled transaction, in posting order."""
    rows = await fetch(database_url, "SELECT amount FROM transactions ORDER BY id")
    return [row["amount"] for row in rows]


async def fetchval(database_url: str, query: str, *args: object) -> object:
    rows = await fetch(database_url, query, *args)
    return rows[0][0] if rows else None


async def wait_writer_waits_on_lock(connection: asyncpg.Connection) -> None:
    """Until the host's writer backend is blocked on a lock (its batch is in flight)."""
    with anyio.fail_after(WAIT_S):
        while not await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = $1 AND wait_event_type = 'Lock'"
                " AND datname = current_database()",
                writer_application_name("main")):
            await anyio.sleep(_POLL_S)


async def answer_of_a_cut_off_batch(
    host: HostClient, database_url: str, request: Request
) -> Answer:
    """The answer to `request` when its group commit dies in flight: host_requests is locked
    so that the batch statement waits on it, then the writer's connection is terminated."""
    blocker = await asyncpg.connect(database_url)
    try:
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE host_requests IN EXCLUSIVE MODE")
            stuck = host.send([request])
            await wait_writer_waits_on_lock(blocker)
            await blocker.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            (answer,) = await host.wait_answers(stuck)
    finally:
        await blocker.close()
    return answer
