"""A terminal's batch over two partitions, end to end over TCP: a real switch, two real account
hosts (main, the default, and p2 at partition number 1) on one database with the card ranges
split between them, and a front's link (docs/plans/partitions.md §3, step 5).

Two hosts on one database stand for two databases here: each writes its own part's
terminal_batches row (told apart by its counted totals), and the shared id counters are moved
to p2's base once main has reserved its block, as `partition add` would have seeded p2's. The
terminal's merchant earns its cards nothing, so that neither host opens the merchant's account,
which one database holds once (each partition's database would hold its own).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio
import asyncpg
import msgspec
import pytest
from anyio.abc import TaskStatus

from account_host import HostConfig, run_host
from proto.frames import Answer, Request, Totals
from switch.service import Switch
from tests.account_host.host_harness import (
    SEED_SQL,
    ZERO_RATE_MERCHANT,
    ZERO_RATE_TERMINAL,
    Terminal,
    fetch,
    host_config,
    insert_cards,
    make_pan,
)
from tests.switch.test_service import WAIT_S, FakeFront, switch_config

pytestmark = pytest.mark.anyio

MAIN_CARD = make_pan(1)                    # BIN 622188: main's range (SEED_SQL)
P2_CARD = make_pan(1, bin_="622189")       # BIN 622189: p2's
P2_ID_BASE = 1 << 48                       # partition number 1
PARTITIONS_SQL = """
INSERT INTO partitions (name, number, state) VALUES ('p2', 1, 'ready');
UPDATE rrn_ranges SET last_rrn = 999999999 WHERE partition = 'main';
INSERT INTO rrn_ranges (partition, first_rrn, last_rrn) VALUES ('p2', 2000000000, 2999999999);
INSERT INTO card_ranges (bin_low, bin_high, host_name) VALUES ('622189', '622189', 'p2');
"""
# p2's counters start at its base, above main's block (reserved by main's first approval).
P2_COUNTERS_SQL = f"""
UPDATE host_counters SET next_value = {P2_ID_BASE}
WHERE name IN ('transaction', 'entry', 'account')"""


class Partitions:
    """The switch, both hosts and the front's link, with p2 stoppable and restartable."""

    def __init__(self, database_url: str, group: anyio.abc.TaskGroup) -> None:
        self.database_url = database_url
        self.group = group
        self.ports: dict[str, int] = {}
        self.p2_scope = anyio.CancelScope()
        self.switch: Switch | None = None
        self.front: FakeFront | None = None
        self._correlation_ids = itertools.count(1)

    async def start_host(self, config: HostConfig) -> None:
        port = await self.group.start(partial(_run_host, config, self.database_url))
        self.ports[config.name] = port

    async def start_p2(self) -> None:
        self.p2_scope = anyio.CancelScope()
        port = await self.group.start(partial(
            _run_host, p2_config(self.ports.get("p2", 0)), self.database_url,
            scope=self.p2_scope))
        self.ports["p2"] = port

    async def ask(self, *requests: Request) -> list[Answer]:
        assert self.front is not None
        stamped = [msgspec.structs.replace(item, correlation_id=next(self._correlation_ids))
                   for item in requests]
        return await self.front.ask(stamped)


def p2_config(port: int = 0) -> HostConfig:
    return host_config(name="p2", default_host="main", listen_port=port)


async def _run_host(config: HostConfig, database_url: str, *,
                    scope: anyio.CancelScope | None = None,
                    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
    with scope or anyio.CancelScope():
        await run_host(config, database_url, task_status=task_status)


@asynccontextmanager
async def partitions(database_url: str) -> AsyncIterator[Partitions]:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(SEED_SQL + PARTITIONS_SQL)
        await insert_cards(connection, [(MAIN_CARD, "active", "2099-12-31"),
                                        (P2_CARD, "active", "2099-12-31")])
    finally:
        await connection.close()
    async with anyio.create_task_group() as group:
        setup = Partitions(database_url, group)
        with anyio.fail_after(WAIT_S):
            await setup.start_host(host_config())
            await setup.start_p2()
            setup.switch = Switch(switch_config(
                {name: f"127.0.0.1:{port}" for name, port in setup.ports.items()},
                default_host="main"), database_url)
            setup.front = FakeFront(await group.start(setup.switch.run))
            await group.start(setup.front.link.run)
            for link in [*setup.switch.links.values(), setup.front.link]:
                await link.wait_up()
        yield setup
        group.cancel_scope.cancel()


async def first_approvals(setup: Partitions, terminal: Terminal) -> list[Answer]:
    """A purchase on main's card (main reserves its ids), then on p2's (above its base)."""
    main = await setup.ask(terminal.purchase(MAIN_CARD, 1_000))
    await fetch(setup.database_url, P2_COUNTERS_SQL)
    p2 = await setup.ask(terminal.purchase(P2_CARD, 2_500))
    return [*main, *p2]


def reconciliation(terminal: Terminal, batch_number: int, totals: Totals) -> Request:
    return terminal.request("0500", processing_code="920000", batch_number=batch_number,
                            totals=totals)


async def closed_parts(database_url: str) -> list[tuple[object, ...]]:
    """(batch, its part's code, counted) of each closed part, in order."""
    rows = await fetch(database_url, """
        SELECT batch_number, result_code, counted FROM terminal_batches
        WHERE closed_at IS NOT NULL ORDER BY batch_number, counted""")
    return [tuple(row) for row in rows]


def counted(count: int, fen: int) -> list[int]:
    return [count, fen, 0, 0, 0, 0, 0, 0]


async def test_a_batch_over_two_partitions_reconciles_with_the_sum(
    database_url: str,
) -> None:
    terminal = Terminal(ZERO_RATE_TERMINAL, ZERO_RATE_MERCHANT)
    both = Totals(purchases_count=2, purchases_fen=3_500)
    async with partitions(database_url) as setup:
        approvals = await first_approvals(setup, terminal)
        (balanced,) = await setup.ask(reconciliation(terminal, 1, both))
        approvals += await setup.ask(terminal.purchase(MAIN_CARD, 400, batch_number=2),
                                     terminal.purchase(P2_CARD, 600, batch_number=2))
        (out,) = await setup.ask(reconciliation(terminal, 2, both))
        (closed,) = await setup.ask(terminal.purchase(P2_CARD, 100, batch_number=2))
    assert [answer.response_code for answer in approvals] == ["00"] * 4
    assert (balanced.response_code, balanced.totals) == ("00", None)
    assert (out.response_code, out.totals) == ("95", Totals(purchases_count=2,
                                                            purchases_fen=1_000))
    assert closed.response_code == "12"   # batch 2 is closed in p2 too
    # Each part compared itself with the whole claim (95 both), for diagnosis.
    assert await closed_parts(database_url) == [
        (1, "95", counted(1, 1_000)), (1, "95", counted(1, 2_500)),
        (2, "95", counted(1, 400)), (2, "95", counted(1, 600))]
    p2_ids = await fetch(database_url, "SELECT id FROM transactions WHERE amount IN (2500, 600)")
    assert all(row["id"] >= P2_ID_BASE for row in p2_ids)


async def test_a_partition_down_at_0500_gives_91_and_closes_nothing_until_the_retry(
    database_url: str,
) -> None:
    terminal = Terminal(ZERO_RATE_TERMINAL, ZERO_RATE_MERCHANT)
    both = Totals(purchases_count=2, purchases_fen=3_500)
    async with partitions(database_url) as setup:
        await first_approvals(setup, terminal)
        assert setup.switch is not None
        setup.p2_scope.cancel()
        with anyio.fail_after(WAIT_S):
            while setup.switch.links["p2"].is_up:
                await anyio.sleep(0.01)
        sent = reconciliation(terminal, 1, both)
        (unavailable,) = await setup.ask(sent)
        parts_while_down = await closed_parts(database_url)
        await setup.start_p2()
        with anyio.fail_after(WAIT_S):
            await setup.switch.links["p2"].wait_up()
        (retried,) = await setup.ask(sent)   # the terminal's retry: the same key
    assert unavailable.response_code == "91"
    # The switch knew p2 was down before it sent anything: no part closed, main's neither.
    assert parts_while_down == []
    assert (retried.response_code, retried.totals) == ("00", None)
    assert await closed_parts(database_url) == [
        (1, "95", counted(1, 1_000)), (1, "95", counted(1, 2_500))]
