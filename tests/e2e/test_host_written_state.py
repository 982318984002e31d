"""What the host decides about the back office's rows goes into tables of its own (migration 030;
docs/plans/partitions.md, step 2), end to end with the host logged in as `jifen_host`, which
may no longer update any row of the back office's: `jifen card adjust`, `card replace` and `gift
restock` still wait for their outcome and print it; each outcome is the host's row, folded into
the command's; and a card a replacement closed stays closed, the new one active, across a host
restart. `jifen audit` runs after the test (conftest.py)."""

from __future__ import annotations

import anyio
import pytest

from database.roles import Role
from devices import messages
from tests.account_host.host_harness import fetch
from tests.e2e.system import CARDS, retry_until_host_is_back, running_system, seed
from tests.e2e.test_balance_changes import _approve, _as, _new_card, _operator, _request
from tests.e2e.test_lifecycle import cli, until
from tests.operators.conftest import as_operator, operator_of
from tests.provisioning.conftest import jifen

pytestmark = pytest.mark.anyio

__all__ = ["as_operator", "jifen", "operator_of"]  # the fixtures, for these tests

LAMP = "LAMP"


async def test_outcomes_are_the_hosts_rows_and_a_closed_card_stays_closed(
    jifen, operator_of, as_operator, database_url, role_url,
) -> None:
    old = CARDS[2]
    await seed(database_url)
    await cli(jifen, "gift", "add", "--alliance", "TEST", "--code", LAMP, "--name", "Desk lamp",
              "--points", "40", "--stock", "1")
    host_url = await anyio.to_thread.run_sync(role_url, Role.HOST)
    maker = await _operator(operator_of, "card_service")
    checker = await _operator(operator_of, "hq_admin")
    async with running_system(database_url, seeded=False, host_url=host_url) as system, \
            system.terminal() as terminal:
        await terminal.sign_on()
        request_id = await _request(as_operator, maker, "adjust", "--pan", old, "--points",
                                    "500", "--reason", "goodwill")
        command = await _approve(as_operator, checker, request_id)
        assert (command["state"], command["result_code"], command["result"]) == (
            "done", "00", "+500 points")
        new = await _new_card(jifen, "new.csv")
        await until(terminal, new, "05")    # sold, not activated
        replaced = await _as(as_operator, maker, "card", "replace", "--pan", old, "--new-pan",
                             new, "--reason", "reported lost")
        assert replaced.exit_code == 0, replaced.err
        assert "(card_replacement) done: " in replaced.out and " closed" in replaced.out
        restocked = await cli(jifen, "gift", "restock", "--alliance", "TEST", "--code", LAMP,
                              "--quantity", "2", "--reason", "delivery")
        assert "(gift_restock) done: +2: 3 in stock\n" in restocked
        await until(terminal, old, "05")

        await system.host.stop()
        await system.host.start(system.group)
        answer = await retry_until_host_is_back(terminal, messages.inquiry(old))
        assert answer["39"] == "05"                             # closed, read back as closed
        assert (await terminal.purchase(new, 1_000))["39"] == "00"   # active, read back so

    commands = await fetch(database_url, """
        SELECT h.kind, (h.state, h.result_code, h.result, h.transaction_id, h.done_at)
                       IS NOT DISTINCT FROM
                       (o.state, o.result_code, o.result, o.transaction_id, o.done_at)
                   AS folded
        FROM host_commands h LEFT JOIN command_outcomes o ON o.command_id = h.id
        ORDER BY h.id""")
    assert [(row["kind"], row["folded"]) for row in commands] == [
        ("points_adjustment", True), ("card_replacement", True), ("gift_restock", True)]
    statuses = await fetch(database_url, """
        SELECT s.status, c.status AS card_status, t.kind, s.changed_at = h.done_at AS at_once
        FROM card_status_changes s JOIN cards c ON c.id = s.card_id
        JOIN transactions t ON t.id = s.transaction_id
        JOIN host_commands h ON h.id = t.command_id
        ORDER BY s.status DESC""")
    assert [tuple(row) for row in statuses] == [
        ("closed", "closed", "card_replacement", True),
        ("active", "active", "card_replacement", True)]
    stock = await fetch(database_url, """
        SELECT s.partition, s.stock, s.active, g.stock AS catalogue_stock
        FROM gift_stock s JOIN gift_catalogue g USING (alliance_id, gift_code)""")
    assert [tuple(row) for row in stock] == [("main", 3, True, 3)]
