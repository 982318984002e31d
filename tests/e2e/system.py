"""The whole system in one event loop, for end-to-end tests: host, switch and front on real
TCP ports and a real PostgreSQL database, seeded with a small alliance.

Each service runs in its own cancel scope, so a test can stop and restart one of them: at once
(`stop`, a crash's cut), or with a drain (`drain_stop`, as the first SIGTERM does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import asyncpg
import msgspec

from account_host import run_host
from account_host.config import HostConfig
from acquirer_front import run_front
from acquirer_front.config import FrontConfig
from devices.terminal_client import TerminalClient
from proto.drain import Drain
from proto.health import Readiness
from proto.pan import luhn_check_digit
from runtime.ops_server import Heartbeat, OpsEndpoint, OpsServer
from switch import run_switch
from switch.config import SwitchConfig
from tests.keys_kit import lookup_hash, sealed_columns
from tests.pki_kit import tls_fields

MERCHANT = "MERCHANT0000001"
OTHER_MERCHANT = "MERCHANT0000002"
INACTIVE_MERCHANT = "MERCHANT0000009"
TERMINAL = "TERM0001"
SECOND_TERMINAL = "TERM0002"
INACTIVE_MERCHANT_TERMINAL = "TERM0009"
BIN = "622188"
SERVICE_START_TIMEOUT_S = 20.0


def make_pan(serial: int, bin_: str = BIN, length: int = 16) -> str:
    partial = f"{bin_}{serial:0{length - len(bin_) - 1}d}"
    return partial + luhn_check_digit(partial)


CARDS = [make_pan(serial) for serial in range(1, 11)]
LOST_CARD = make_pan(90)
UNISSUED_CARD = make_pan(99)

SEED_SQL = f"""
-- Terminals and alliances that need no MAC, explicitly (MAC is the default since migration
-- 007): tests that are not about MAC stay fast; tests/e2e/test_mac.py covers MAC.
INSERT INTO alliances (code, name, requires_mac_for_loads)
VALUES ('TEST', 'Test alliance', false);
INSERT INTO merchants (merchant_code, alliance_id, name, earn_points_per_yuan, active)
SELECT code, (SELECT id FROM alliances WHERE code = 'TEST'), name, rate, active
FROM (VALUES ('{MERCHANT}', 'Tea house', 1, true), ('{OTHER_MERCHANT}', 'Bookshop', 2, true),
             ('{INACTIVE_MERCHANT}', 'Closed shop', 1, false)) AS m(code, name, rate, active);
INSERT INTO terminals (terminal_code, merchant_id, requires_mac)
SELECT t, (SELECT id FROM merchants WHERE merchant_code = m), false
FROM (VALUES ('{TERMINAL}', '{MERCHANT}'), ('{SECOND_TERMINAL}', '{MERCHANT}'),
             ('{INACTIVE_MERCHANT_TERMINAL}', '{INACTIVE_MERCHANT}')) AS x(t, m);
INSERT INTO card_ranges (bin_low, bin_high, host_name) VALUES ('{BIN}', '{BIN}', 'main');
"""


async def seed(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(SEED_SQL)
        pans = [*CARDS, LOST_CARD]
        columns = await sealed_columns(connection, pans)
        await connection.executemany(
            "INSERT INTO cards (pan_hmac, pan_sealed, pan_masked, alliance_id, status,"
            " expires_on) VALUES ($1, $2, $3, (SELECT id FROM alliances WHERE code = 'TEST'),"
            " $4, '2099-12-31')",
            [(*sealed, "lost" if pan == LOST_CARD else "active")
             for sealed, pan in zip(columns, pans, strict=True)],
        )
        await seed_ledger(connection)
    finally:
        await connection.close()


@dataclass
class Service:
    name: str
    main: Any
    config: Any
    database_url: str
    scope: anyio.CancelScope | None = None
    stopped: anyio.Event = field(default_factory=anyio.Event)
    port: int = 0
    # What the service says of itself (`proto.health`); kept across restarts, as a process's
    # runtime keeps it: the service adds its checks again.
    health: Readiness = field(default_factory=Readiness)
    drain: Drain = field(default_factory=lambda: Drain(SERVICE_START_TIMEOUT_S))

    async def _run(self, *, task_status: anyio.abc.TaskStatus[int]) -> None:
        self.scope = anyio.CancelScope()
        self.stopped = anyio.Event()
        self.drain = Drain(self.drain.timeout_s)
        try:
            with self.scope:
                await self.main(self.config, self.database_url, health=self.health,
                                drain=self.drain, task_status=task_status)
        finally:
            self.stopped.set()

    async def start(self, group: anyio.abc.TaskGroup) -> int:
        with anyio.fail_after(SERVICE_START_TIMEOUT_S):
            self.port = await group.start(self._run)
        # A restart listens on the same port, so that peers reconnect to it.
        self.config = msgspec.structs.replace(self.config, listen_port=self.port)
        return self.port

    async def stop(self) -> None:
        assert self.scope is not None
        self.scope.cancel()
        with anyio.fail_after(SERVICE_START_TIMEOUT_S):
            await self.stopped.wait()

    def start_drain(self, timeout_s: float = SERVICE_START_TIMEOUT_S) -> None:
        """Ask the running service to drain (the first SIGTERM), within `timeout_s`."""
        self.drain.timeout_s = timeout_s
        self.drain.ask()

    async def drain_stop(self, timeout_s: float = SERVICE_START_TIMEOUT_S) -> float:
        """Drain the service until it returns (by its deadline, it does); the seconds it
        took."""
        started = anyio.current_time()
        self.start_drain(timeout_s)
        with anyio.fail_after(timeout_s + 1):
            await self.stopped.wait()
        return anyio.current_time() - started


@dataclass
class RunningSystem:
    database_url: str
    group: anyio.abc.TaskGroup
    host: Service
    switch: Service
    front: Service
    front_bridge_port: int | None = None   # the front's bridge_listen, when asked for

    @property
    def front_port(self) -> int:
        return self.front.port

    def terminal(self, terminal_code: str = TERMINAL, merchant_code: str = MERCHANT,
                 timeout_s: float = 10.0) -> TerminalClient:
        return TerminalClient("127.0.0.1", self.front.port, terminal_code=terminal_code,
                              merchant_code=merchant_code, timeout_s=timeout_s)

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.database_url)
        try:
            return await connection.fetch(query, *args)
        finally:
            await connection.close()

    async def pan_hmac(self, pan: str) -> bytes:
        """cards.pan_hmac of `pan`: how a test finds a card's row (no PAN is stored)."""
        connection = await asyncpg.connect(self.database_url)
        try:
            return await lookup_hash(connection, pan)
        finally:
            await connection.close()

    async def fetchval(self, query: str, *args: object) -> Any:
        rows = await self.fetch(query, *args)
        return rows[0][0] if rows else None


@asynccontextmanager
async def running_system(
    database_url: str, *, answer_timeout_s: float = 5.0, seeded: bool = True,
    bridge_listen: bool = False, host_url: str | None = None,
) -> AsyncIterator[RunningSystem]:
    """With `bridge_listen`, the front also listens for dial-up bridges (TLS, any free port).
    `host_url`: the host's own login (a `role_url(Role.HOST)`), instead of the owner's."""
    if seeded:
        await seed(database_url)
    host = Service("host", run_host, HostConfig(listen_port=0, metrics_port=0,
                                                **tls_fields("host")),
                   host_url or database_url)
    async with anyio.create_task_group() as group:
        host_port = await host.start(group)
        switch = Service("switch", run_switch, SwitchConfig(
            listen_port=0, metrics_port=0, hosts={"main": f"127.0.0.1:{host_port}"},
            echo_interval_s=1.0, echo_timeout_s=1.0, reconnect_backoff_s_max=0.2,
            **tls_fields("switch"),
        ), database_url)
        switch_port = await switch.start(group)
        bridge_ports: list[int] = []
        front = Service("front", partial(run_front, on_bridge_listening=bridge_ports.append),
                        FrontConfig(
            listen_port=0, metrics_port=0, switch_address=f"127.0.0.1:{switch_port}",
            answer_timeout_s=answer_timeout_s, **tls_fields("front"),
            bridge_listen="127.0.0.1:0" if bridge_listen else None,
        ), database_url)
        await front.start(group)
        try:
            yield RunningSystem(database_url, group, host, switch, front,
                                bridge_ports[-1] if bridge_ports else None)
        finally:
            group.cancel_scope.cancel()


@asynccontextmanager
async def ops_endpoints(system: RunningSystem) -> AsyncIterator[dict[str, OpsServer]]:
    """Each service's /metrics, /healthz, /readyz and /status on a port of its own (any free
    one), as `runtime.service` serves them for a process; the event loop's heartbeat runs
    meanwhile. Yields the servers by service name (`.port`)."""
    heartbeat = Heartbeat()
    servers = {service.name: OpsServer(OpsEndpoint(service.name, service.health, heartbeat), 0)
               for service in (system.host, system.switch, system.front)}
    async with anyio.create_task_group() as group:
        group.start_soon(heartbeat.run)
        for server in servers.values():
            server.start()
        try:
            yield servers
        finally:
            for server in servers.values():
                server.stop()
            group.cancel_scope.cancel()


# ---- ledger (issue 4): gift catalogue, a second alliance with its own rate, cards and shop ----

GIFT = "TEA"                  # in alliance TEST's catalogue, active
GIFT_POINTS = 50
INACTIVE_GIFT = "MUG"         # in alliance TEST's catalogue, withdrawn
OTHER_ALLIANCE_GIFT = "BOOK"  # only in alliance SECOND's catalogue
SECOND_ALLIANCE_RATE = 150    # points for 100 fen when exchanging into stored value
SECOND_MERCHANT = "MERCHANT0000021"
SECOND_ALLIANCE_TERMINAL = "TERM0021"
SECOND_BIN = "622177"
SECOND_CARDS = [make_pan(serial, bin_=SECOND_BIN) for serial in range(1, 4)]

SEED_LEDGER_SQL = f"""
INSERT INTO alliances (code, name, exchange_points_per_yuan, requires_mac_for_loads)
VALUES ('SECOND', 'Second alliance', {SECOND_ALLIANCE_RATE}, false);
INSERT INTO merchants (merchant_code, alliance_id, name, earn_points_per_yuan)
VALUES ('{SECOND_MERCHANT}', (SELECT id FROM alliances WHERE code = 'SECOND'), 'Noodle bar', 1);
INSERT INTO terminals (terminal_code, merchant_id, requires_mac)
VALUES ('{SECOND_ALLIANCE_TERMINAL}',
        (SELECT id FROM merchants WHERE merchant_code = '{SECOND_MERCHANT}'), false);
INSERT INTO card_ranges (bin_low, bin_high, host_name)
VALUES ('{SECOND_BIN}', '{SECOND_BIN}', 'main');
INSERT INTO gift_catalogue (alliance_id, gift_code, name, points, active)
SELECT (SELECT id FROM alliances WHERE code = a), g, n, p, x
FROM (VALUES ('TEST', '{GIFT}', 'Pot of tea', {GIFT_POINTS}, true),
             ('TEST', '{INACTIVE_GIFT}', 'Mug', 30, false),
             ('SECOND', '{OTHER_ALLIANCE_GIFT}', 'Book', 80, true)) AS c(a, g, n, p, x);
"""


async def seed_ledger(connection: asyncpg.Connection) -> None:
    await connection.execute(SEED_LEDGER_SQL)
    await connection.executemany(
        "INSERT INTO cards (pan_hmac, pan_sealed, pan_masked, alliance_id, status, expires_on) "
        "VALUES ($1, $2, $3, (SELECT id FROM alliances WHERE code = 'SECOND'), 'active',"
        " '2099-12-31')",
        await sealed_columns(connection, list(SECOND_CARDS)),
    )


async def retry_until_host_is_back(terminal: TerminalClient, fields: dict[str, str],
                                   timeout_s: float = 15.0) -> dict[str, str]:
    """Send until the answer is no longer 91: the switch reconnects to a restarted host with
    backoff, so the first requests after a restart may still find no link."""
    with anyio.fail_after(timeout_s):
        while True:
            answer = await terminal.request(fields)
            if answer["39"] != "91":
                return answer
            await anyio.sleep(0.05)
