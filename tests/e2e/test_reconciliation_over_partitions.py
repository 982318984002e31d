"""A terminal's batch over two partitions, the whole system over TCP: a terminal signs on at the
front, buys with a card of each partition's range, and its 0500 is answered 91 while p2 is down;
the front's store-and-forward sends it again once p2 is back, and both parts close
(docs/plans/partitions.md §3). The audit of tests/e2e/conftest.py runs after it.

Two hosts on one database stand for two databases: each part's terminal_batches row is told
apart by its counted totals; the shared id counters move to p2's base once main has reserved
its block, as `partition add` would have seeded p2's own; the terminal's merchant earns its
cards nothing, so that only one host would open the merchant's account (one database holds it
once; two would each hold their own).
"""

from __future__ import annotations

import anyio
import asyncpg
import pytest

from account_host import run_host
from account_host.config import HostConfig
from acquirer_front import run_front
from acquirer_front.config import FrontConfig
from devices.terminal_client import TerminalClient
from proto.frames import Totals
from switch import run_switch
from switch.config import SwitchConfig
from tests.e2e.system import CARDS, Service, make_pan, seed
from tests.keys_kit import sealed_columns
from tests.pki_kit import tls_fields

pytestmark = pytest.mark.anyio

WAIT_S = 15.0
TERMINAL = "TERM0031"
MERCHANT = "MERCHANT0000031"
P2_CARD = make_pan(1, bin_="622189")
P2_ID_BASE = 1 << 48
PARTITIONS_SQL = f"""
INSERT INTO merchants (merchant_code, alliance_id, name, earn_points_per_yuan, active)
SELECT '{MERCHANT}', id, 'Post office', 0, true FROM alliances WHERE code = 'TEST';
INSERT INTO terminals (terminal_code, merchant_id, requires_mac)
SELECT '{TERMINAL}', id, false FROM merchants WHERE merchant_code = '{MERCHANT}';
INSERT INTO partitions (name, number, state) VALUES ('p2', 1, 'ready');
UPDATE rrn_ranges SET last_rrn = 999999999 WHERE partition = 'main';
INSERT INTO rrn_ranges (partition, first_rrn, last_rrn) VALUES ('p2', 2000000000, 2999999999);
INSERT INTO card_ranges (bin_low, bin_high, host_name) VALUES ('622189', '622189', 'p2');
"""
FAST_SAF = {"saf_backoff_s_min": 0.05, "saf_backoff_s_max": 0.2, "saf_poll_interval_s": 0.05}


async def execute(database_url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch(sql, *args)
    finally:
        await connection.close()


async def seed_partitions(database_url: str) -> None:
    await seed(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(PARTITIONS_SQL)
        [sealed] = await sealed_columns(connection, [P2_CARD])
        await connection.execute(
            "INSERT INTO cards (pan_hmac, pan_sealed, pan_masked, alliance_id, status,"
            " expires_on) VALUES ($1, $2, $3, (SELECT id FROM alliances WHERE code = 'TEST'),"
            " 'active', '2099-12-31')", *sealed)
    finally:
        await connection.close()


async def test_a_0500_answered_91_while_a_partition_is_down_closes_both_parts_later(
    database_url: str,
) -> None:
    await seed_partitions(database_url)
    host_tls = tls_fields("host")
    main = Service("main", run_host, HostConfig(listen_port=0, metrics_port=0, **host_tls),
                   database_url)
    p2 = Service("p2", run_host, HostConfig(name="p2", default_host="main", listen_port=0,
                                            metrics_port=0, **host_tls), database_url)
    async with anyio.create_task_group() as group:
        hosts = {"main": await main.start(group), "p2": await p2.start(group)}
        switch = Service("switch", run_switch, SwitchConfig(
            listen_port=0, metrics_port=0, echo_interval_s=1.0, echo_timeout_s=1.0,
            reconnect_backoff_s_max=0.2, **tls_fields("switch"),
            hosts={name: f"127.0.0.1:{port}" for name, port in hosts.items()}), database_url)
        front = Service("front", run_front, FrontConfig(
            listen_port=0, metrics_port=0, answer_timeout_s=5.0, **tls_fields("front"),
            switch_address=f"127.0.0.1:{await switch.start(group)}", **FAST_SAF), database_url)
        await front.start(group)
        async with TerminalClient("127.0.0.1", front.port, terminal_code=TERMINAL,
                                  merchant_code=MERCHANT, timeout_s=WAIT_S) as terminal:
            assert (await terminal.sign_on())["60"] == "000001"
            assert (await terminal.purchase(CARDS[0], 1_000))["39"] == "00"
            await execute(database_url, "UPDATE host_counters SET next_value = $1"
                          " WHERE name IN ('transaction', 'entry', 'account')", P2_ID_BASE)
            assert (await terminal.purchase(P2_CARD, 2_500))["39"] == "00"
            await p2.stop()
            both = Totals(purchases_count=2, purchases_fen=3_500)
            assert (await terminal.reconcile(both, batch_number=1))["39"] == "91"
            [owed] = await execute(database_url, "SELECT origin, state FROM front_saf")
            assert tuple(owed) == ("reconciliation", "pending")
            await p2.start(group)
            with anyio.fail_after(WAIT_S):
                while (await execute(database_url, "SELECT state FROM front_saf"))[0][0] \
                        == "pending":
                    await anyio.sleep(0.05)
        group.cancel_scope.cancel()
    [settled] = await execute(database_url, "SELECT state, last_response_code FROM front_saf")
    assert tuple(settled) == ("acknowledged", "00")
    closed = await execute(database_url, """
        SELECT batch_number, counted, claimed FROM terminal_batches
        WHERE terminal_code = $1 AND closed_at IS NOT NULL ORDER BY counted""", TERMINAL)
    claimed = [2, 3_500, 0, 0, 0, 0, 0, 0]
    assert [tuple(row) for row in closed] == [
        (1, [1, 1_000, 0, 0, 0, 0, 0, 0], claimed), (1, [1, 2_500, 0, 0, 0, 0, 0, 0], claimed)]
