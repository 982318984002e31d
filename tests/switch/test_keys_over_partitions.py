"""A retransmission goes where its original went, over TCP: a real switch and two real hosts
(main and p2) on one database with the card ranges split (test_reconciliation_over_partitions'
set-up), and a front's link (docs/plans/partitions.md §4, step 5).

The same key (terminal, MTI, STAN, field 7) with a PAN of p2's range must reach main, which
saw the key, and get 94; the same content gets main's first answer again. A switch started
afresh knows no key until it has asked both hosts for their digests.
"""

from __future__ import annotations

import time

import anyio
import msgspec
import pytest

from proto.frames import Answer, Request
from switch.service import Switch
from tests.account_host.host_harness import ZERO_RATE_MERCHANT, ZERO_RATE_TERMINAL, Terminal, fetch
from tests.switch.test_reconciliation_over_partitions import (
    MAIN_CARD,
    P2_CARD,
    P2_COUNTERS_SQL,
    P2_ID_BASE,
    Partitions,
    partitions,
)
from tests.switch.test_service import WAIT_S, FakeFront, switch_config

pytestmark = pytest.mark.anyio

KEY_WINDOW_S = 900


async def transactions(database_url: str) -> list[tuple[str, int]]:
    """(partition by id, amount) of every transaction: p2's ids are above its base."""
    rows = await fetch(database_url, "SELECT id, amount FROM transactions ORDER BY id")
    return [("p2" if row["id"] >= P2_ID_BASE else "main", row["amount"]) for row in rows]


async def restarted_switch(setup: Partitions) -> tuple[Switch, FakeFront]:
    """A second switch, started afresh (nothing remembered) on the same hosts, with its own
    front link, once it serves."""
    switch = Switch(switch_config(
        {name: f"127.0.0.1:{port}" for name, port in setup.ports.items()},
        default_host="main"), setup.database_url)
    assert switch.forwarder.keys is not None and len(switch.forwarder.keys) == 0
    front = FakeFront(await setup.group.start(switch.run))
    await setup.group.start(front.link.run)
    with anyio.fail_after(WAIT_S):
        await front.link.wait_up()
    return switch, front


def same_key(request: Request, **changes: object) -> Request:
    return msgspec.structs.replace(request, **changes)


async def test_the_same_key_with_a_pan_of_another_partition_gets_94_from_its_host(
    database_url: str,
) -> None:
    terminal = Terminal(ZERO_RATE_TERMINAL, ZERO_RATE_MERCHANT)
    async with partitions(database_url) as setup:
        assert setup.switch is not None and setup.switch.forwarder.keys is not None
        first = terminal.purchase(MAIN_CARD, 1_000)
        (approved,) = await setup.ask(first)
        (again,) = await setup.ask(first)                            # a plain retransmission
        await fetch(database_url, P2_COUNTERS_SQL)
        (other_pan,) = await setup.ask(same_key(first, pan=P2_CARD))  # p2's range by PAN
        (p2_new,) = await setup.ask(terminal.purchase(P2_CARD, 700))  # a new key: by PAN
        held = len(setup.switch.forwarder.keys)
    assert approved.response_code == "00"
    assert (again.response_code, again.rrn) == ("00", approved.rrn)
    assert other_pan.response_code == "94"
    assert p2_new.response_code == "00"
    assert held == 2
    assert await transactions(database_url) == [("main", 1_000), ("p2", 700)]


async def test_after_a_switch_restart_the_keys_come_from_the_hosts(database_url: str) -> None:
    terminal = Terminal(ZERO_RATE_TERMINAL, ZERO_RATE_MERCHANT)
    async with partitions(database_url) as setup:
        on_main = terminal.purchase(MAIN_CARD, 1_000)
        on_p2 = terminal.purchase(P2_CARD, 2_500)
        answers: list[Answer] = [*await setup.ask(on_main)]
        await fetch(database_url, P2_COUNTERS_SQL)
        answers += await setup.ask(on_p2)
        switch, front = await restarted_switch(setup)
        assert switch.key_restore is not None and switch.key_restore.all_in.is_set()
        keys = switch.forwarder.keys
        assert keys is not None
        restored, window_s = len(keys), keys.held_window_s(int(time.time()))
        stamped = [same_key(on_main, pan=P2_CARD, correlation_id=1),
                   same_key(on_p2, pan=MAIN_CARD, correlation_id=2),
                   same_key(on_main, correlation_id=3)]
        answers += await front.ask(stamped)
    assert [answer.response_code for answer in answers] == ["00", "00", "94", "94", "00"]
    assert answers[4].rrn == answers[0].rrn   # main's first answer again
    assert restored >= 2   # both purchases' keys (and none other of a card)
    assert window_s == KEY_WINDOW_S
    assert await transactions(database_url) == [("main", 1_000), ("p2", 2_500)]
