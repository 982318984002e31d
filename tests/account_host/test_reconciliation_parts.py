"""A 0500 the switch fans out over partitions: each part closes this host's share of the batch
and answers its totals whatever its code; a partition other than the default adopts the batch
number of a terminal it knows nothing of (docs/plans/partitions.md §3). Over TCP, one host at a
time on the seeded database."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import msgspec
import pytest

from account_host.batches import OpenBatch, adopt_batch
from proto.frames import Request, Totals
from tests.account_host.host_harness import CARDS, Terminal, fetch, host_config, running_host
from tests.account_host.test_host_ledger import reconciliation
from tests.account_host.test_partitions import P2_SQL

pytestmark = pytest.mark.anyio

PARTS = 2


def part(terminal: Terminal, batch_number: int, totals: Totals) -> Request:
    return msgspec.structs.replace(reconciliation(terminal, batch_number, totals),
                                   reconciliation_parts=PARTS)


async def _execute(database_url: str, sql: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _batches(database_url: str) -> list[tuple[object, ...]]:
    rows = await fetch(database_url, "SELECT batch_number, result_code, claimed, counted"
                                     " FROM terminal_batches ORDER BY batch_number")
    return [tuple(row) for row in rows]


class TestAPart:
    async def test_a_part_answers_its_totals_whatever_its_code_and_closes_once(
        self, seeded_url: str,
    ) -> None:
        terminal = Terminal()
        whole = Totals(purchases_count=2, purchases_fen=3_000)
        ours = Totals(purchases_count=1, purchases_fen=1_000)
        async with running_host(seeded_url) as host:
            bought = await host.ask(terminal.purchase(CARDS[0], 1_000))
            first = part(terminal, 1, whole)
            closed = await host.ask(first)
            again = await host.ask(first)
            balanced = await host.ask(part(terminal, 2, Totals()))
        assert bought.response_code == "00"
        # The part's own comparison (the other part holds the rest), and its own totals.
        assert (closed.response_code, closed.totals) == ("95", ours)
        assert (again.response_code, again.totals) == ("95", ours)
        assert (balanced.response_code, balanced.totals) == ("00", Totals())
        assert await _batches(seeded_url) == [
            (1, "95", [2, 3_000, 0, 0, 0, 0, 0, 0], [1, 1_000, 0, 0, 0, 0, 0, 0]),
            (2, "00", [0] * 8, [0] * 8),
            (3, None, None, None)]

    async def test_a_whole_reconciliation_answers_as_before(self, seeded_url: str) -> None:
        terminal = Terminal()
        async with running_host(seeded_url) as host:
            await host.ask(terminal.purchase(CARDS[0], 1_000))
            balanced = await host.ask(reconciliation(
                terminal, 1, Totals(purchases_count=1, purchases_fen=1_000)))
        assert (balanced.response_code, balanced.totals) == ("00", None)


class TestOpenNumber:
    async def test_another_partition_adopts_the_number_of_a_terminal_it_never_saw(
        self, seeded_url: str,
    ) -> None:
        await _execute(seeded_url, P2_SQL)
        terminal = Terminal()
        config = host_config(name="p2", default_host="main", id_block_size=10)
        async with running_host(seeded_url, config) as host:
            bought = await host.ask(terminal.purchase(CARDS[0], 1_000, batch_number=5))
            stale = await host.ask(terminal.purchase(CARDS[1], 1_000, batch_number=4))
            closed = await host.ask(part(terminal, 5, Totals(purchases_count=3,
                                                             purchases_fen=9_000)))
            following = await host.ask(terminal.purchase(CARDS[1], 500, batch_number=6))
        assert [answer.response_code for answer in (bought, stale, closed, following)] == [
            "00", "12", "95", "00"]
        assert closed.totals == Totals(purchases_count=1, purchases_fen=1_000)
        assert await _batches(seeded_url) == [
            (5, "95", [3, 9_000, 0, 0, 0, 0, 0, 0], [1, 1_000, 0, 0, 0, 0, 0, 0]),
            (6, None, None, None)]

    async def test_an_adopted_batch_keeps_its_count_across_a_restart(
        self, seeded_url: str,
    ) -> None:
        # Room for a block of RRNs at each start.
        await _execute(seeded_url, P2_SQL + "INSERT INTO rrn_ranges (partition, first_rrn,"
                       " last_rrn) VALUES ('p2', 3000000000, 3000000999)")
        terminal = Terminal()
        config = host_config(name="p2", default_host="main", id_block_size=10)
        async with running_host(seeded_url, config) as host:
            bought = await host.ask(terminal.purchase(CARDS[0], 1_000, batch_number=5))
        assert await _batches(seeded_url) == [(5, None, None, None)]
        async with running_host(seeded_url, config) as host:
            more = await host.ask(terminal.purchase(CARDS[1], 500, batch_number=5))
            closed = await host.ask(part(terminal, 5, Totals()))
        assert (bought.response_code, more.response_code) == ("00", "00")
        assert closed.totals == Totals(purchases_count=2, purchases_fen=1_500)

    async def test_another_partition_keeps_the_open_batch_it_has(
        self, seeded_url: str,
    ) -> None:
        await _execute(seeded_url, P2_SQL + """
            INSERT INTO terminal_batches (terminal_code, batch_number, opened_at)
            SELECT terminal_code, 3, now() FROM terminals""")
        terminal = Terminal()
        config = host_config(name="p2", default_host="main", id_block_size=10)
        async with running_host(seeded_url, config) as host:
            other = await host.ask(terminal.purchase(CARDS[0], 1_000, batch_number=5))
            open_one = await host.ask(terminal.purchase(CARDS[0], 1_000, batch_number=3))
        assert (other.response_code, open_one.response_code) == ("12", "00")

    async def test_the_default_partition_gives_a_terminal_it_never_saw_the_first_batch(
        self, seeded_url: str,
    ) -> None:
        terminal = Terminal()
        async with running_host(seeded_url, host_config(default_host="main")) as host:
            other = await host.ask(terminal.purchase(CARDS[0], 1_000, batch_number=5))
            first = await host.ask(terminal.purchase(CARDS[0], 1_000, batch_number=1))
        assert (other.response_code, first.response_code) == ("12", "00")


def test_adoption_takes_only_a_number_of_field_60s_range_for_an_unknown_terminal() -> None:
    batches: dict[str, OpenBatch] = {}
    now = datetime.now(UTC)
    assert adopt_batch(batches, "T1", 0, now) is None
    assert adopt_batch(batches, "T1", None, now) is None
    assert batches == {}
    adopted = adopt_batch(batches, "T1", 999_999, now)
    assert adopt_batch(batches, "T1", 7, now) is None
    assert adopted is batches["T1"]
    assert (adopted.number, adopted.opened_at) == (999_999, now)


def test_a_host_is_the_default_partition_unless_another_is_named() -> None:
    assert host_config().is_default_partition
    assert host_config(name="main", default_host="main").is_default_partition
    assert not host_config(name="p2", default_host="main").is_default_partition
