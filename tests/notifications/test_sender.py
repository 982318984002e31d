"""The sender against a real HTTP server on this machine (notifications/sender.py): a gateway
that refuses (503, or no server listening) for an hour of an injected clock, then accepts,
gets every event at least once, in id order, each with its id as the Idempotency-Key; none
is lost and none is left pending; an event of a kind its member opted out of is recorded
skipped and never sent. The sender logs in as its own role (migration 035's grants)."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from database.roles import Role
from notifications.config import NotifyConfig
from notifications.events import Event
from notifications.sender import Sender, backoff_s
from notifications.webhook import IDEMPOTENCY_HEADER, PrintTransport, WebhookTransport
from tests.e2e.system import seed

pytestmark = pytest.mark.anyio

HOUR_S = 3_600.0


class FakeClock:
    """The sender's time: a sleep moves it on at once, and may start the gateway."""

    def __init__(self) -> None:
        self.t = 0.0
        self.hook: Callable[[], None] | None = None

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.t += seconds
        if self.hook is not None:
            self.hook()
        await anyio.sleep(0)


@dataclass
class Gateway:
    """What the webhook saw: each accepted (key header, body id) in order, and refusals."""

    clock: FakeClock
    refuse_until_s: float
    accepted: list[tuple[str, int]] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:   # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with gateway.lock:
                if gateway.clock.now() < gateway.refuse_until_s:
                    gateway.refused += 1
                    status = 503
                else:
                    gateway.accepted.append((self.headers[IDEMPOTENCY_HEADER], body["id"]))
                    status = 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving(gateway: Gateway, port: int) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(gateway))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_MEMBER_SQL = """
INSERT INTO members (alliance_id, name, mobile_hmac, mobile_sealed, mobile_masked, joined_on)
SELECT alliance_id, 'Li Na', decode(repeat('ab', 32), 'hex'), '\\x00', '138****0000', now()
FROM cards WHERE id = $1 RETURNING id
"""


async def _events(database_url: str) -> tuple[list[int], int]:
    """Seven events on three cards, the first card's member opted out of points_spent; the
    ids, and the id of the one to skip. Created two minutes ago: settled, the floor passes
    them once done."""
    await seed(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        cards = [row["id"] for row in await connection.fetch(
            "SELECT id FROM cards ORDER BY id LIMIT 3")]
        member_id = await connection.fetchval(_MEMBER_SQL, cards[0])
        await connection.execute("UPDATE cards SET member_id = $1 WHERE id = $2", member_id,
                                 cards[0])
        await connection.execute("INSERT INTO member_notification_opt_outs (member_id, kind)"
                                 " VALUES ($1, 'points_spent')", member_id)
        rows = [("points_earned", cards[0], 100), ("points_spent", cards[0], -40),
                ("points_earned", cards[1], 10), ("points_earned", cards[2], 20),
                ("points_spent", cards[1], -5), ("points_earned", cards[0], 7),
                ("points_earned", cards[2], 1)]
        ids = [await connection.fetchval(
            "INSERT INTO notification_outbox (kind, card_id, points, points_balance,"
            " business_date, created_at) VALUES ($1, $2, $3, 0, current_date,"
            " now() - interval '2 minutes') RETURNING id", *row) for row in rows]
    finally:
        await connection.close()
    return ids, ids[1]


async def _deliveries(database_url: str) -> dict[int, tuple[str, int]]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT event_id, outcome, attempts FROM notification_deliveries")
    finally:
        await connection.close()
    return {row["event_id"]: (row["outcome"], row["attempts"]) for row in rows}


@pytest.mark.parametrize("down", ["refusing", "not listening"])
async def test_a_gateway_down_for_an_hour_loses_nothing(database_url, role_url, down) -> None:
    ids, skipped_id = await _events(database_url)
    clock = FakeClock()
    gateway = Gateway(clock, refuse_until_s=HOUR_S if down == "refusing" else 0.0)
    port = _free_port()
    config = NotifyConfig(webhook_url=f"http://127.0.0.1:{port}/sms", request_timeout_s=2.0,
                          backoff_s_min=1.0, backoff_s_max=60.0)
    sender = Sender(config, WebhookTransport(config.webhook_url or "", 2.0), clock)
    connection = await asyncpg.connect(role_url(Role.NOTIFY))
    with ExitStack() as stack:
        if down == "refusing":
            stack.enter_context(serving(gateway, port))
        else:   # connections refused until an hour has passed, then the gateway starts
            listening: list[bool] = []

            def start_after_an_hour() -> None:
                if clock.now() >= HOUR_S and not listening:
                    stack.enter_context(serving(gateway, port))
                    listening.append(True)

            clock.hook = start_after_an_hour
        try:
            with anyio.fail_after(30):
                done = [await sender.run_once(connection)]
                while done[-1]:
                    done.append(await sender.run_once(connection))
        finally:
            await connection.close()

    assert clock.now() >= HOUR_S
    assert sum(done) == len(ids)
    sent = [event_id for event_id in ids if event_id != skipped_id]
    assert [body_id for _, body_id in gateway.accepted] == sent       # each once, in order
    assert all(key == str(body_id) for key, body_id in gateway.accepted)
    assert sender.failed_attempts >= HOUR_S / config.backoff_s_max - 1
    if down == "refusing":
        assert gateway.refused == sender.failed_attempts
    deliveries = await _deliveries(database_url)
    assert deliveries[skipped_id] == ("skipped", 0)
    assert {event_id: outcome for event_id, (outcome, _) in deliveries.items()} == \
        {event_id: "skipped" if event_id == skipped_id else "delivered" for event_id in ids}
    assert deliveries[ids[0]][1] == sender.failed_attempts + 1   # the first waited the hour
    assert sender.floor == ids[-1]   # all done and settled: the next read starts past them


@given(low=st.floats(0.001, 60), high=st.floats(0.001, 3_600),
       failures=st.integers(1, 10_000))
def test_the_backoff_grows_within_its_bounds(low: float, high: float, failures: int) -> None:
    config = NotifyConfig(backoff_s_min=min(low, high), backoff_s_max=max(low, high))
    wait_s = backoff_s(config, failures)
    assert config.backoff_s_min <= wait_s <= config.backoff_s_max
    assert backoff_s(config, failures + 1) >= wait_s


def test_the_backoff_doubles_up_to_its_cap() -> None:
    config = NotifyConfig(backoff_s_min=1.0, backoff_s_max=60.0)
    assert [backoff_s(config, failures) for failures in (1, 2, 3, 6, 7, 100)] == \
        [1.0, 2.0, 4.0, 32.0, 60.0, 60.0]


async def test_in_development_events_are_printed_as_json_lines() -> None:
    stream = io.StringIO()
    created_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    await PrintTransport(stream).send(Event(7, "points_earned", 3, created_at, points=10))
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line) == {"id": 7, "kind": "points_earned", "card_id": 3,
                                "created_at": "2026-01-02T03:04:05Z", "points": 10}
