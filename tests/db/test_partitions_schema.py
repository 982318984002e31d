"""Migration 029's partition identity, in SQL: the one partition an existing database becomes,
RRN ranges that cannot overlap, and range_owner, which must give every card the host the switch
routes it to (switch/routes.py), or the host would hold cards it never gets."""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from database import default_migrations_dir, migrate
from switch.routes import CardRange, RouteTable

pytestmark = pytest.mark.anyio

HOSTS = ("main", "p2", "p3")
NO_RANGE = "(no range)"   # the switch's default host stands for "no row" of range_owner


async def test_an_existing_database_is_partition_main_with_every_rrn(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        partitions = await connection.fetch("SELECT name, number, state FROM partitions")
        ranges = await connection.fetch("SELECT partition, first_rrn, last_rrn FROM rrn_ranges")
        with pytest.raises(asyncpg.ExclusionViolationError):
            await connection.execute(
                "INSERT INTO partitions (name, number) VALUES ('p2', 1);"
                "INSERT INTO rrn_ranges (partition, first_rrn, last_rrn)"
                " VALUES ('p2', 999999999999, 999999999999)")
        with pytest.raises(asyncpg.CheckViolationError):   # the switch keeps 8 bits of it
            await connection.execute("INSERT INTO partitions (name, number) VALUES ('p9', 256)")
    finally:
        await connection.close()
    assert [tuple(row) for row in partitions] == [("main", 0, "ready")]
    assert [tuple(row) for row in ranges] == [("main", 1, 999_999_999_999)]


async def test_partition_zero_takes_the_name_its_card_ranges_give(
    empty_database_url: str, tmp_path: Path,
) -> None:
    before = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), before)
    for later in before.glob("*.sql"):   # 029 and those after it, which may rely on it
        if later.name >= "029":
            later.unlink()
    await migrate(empty_database_url, before)
    connection = await asyncpg.connect(empty_database_url)
    try:
        await connection.execute("INSERT INTO card_ranges (bin_low, bin_high, host_name)"
                                 " VALUES ('622188', '622188', 'east'), ('6217', '6217', 'east')")
        assert "029_partitions" in await migrate(empty_database_url)
        partitions = await connection.fetch("SELECT name, number FROM partitions")
    finally:
        await connection.close()
    assert [tuple(row) for row in partitions] == [("east", 0)]


@st.composite
def card_ranges(draw: st.DrawFn) -> CardRange:
    """Ranges of 1-6 digits around a few prefixes, so that they overlap often."""
    length = draw(st.integers(1, 6))
    prefix = draw(st.sampled_from(["6", "62", "622", "6221", "62218", "622188"]))
    base = int((prefix * 6)[:length]) if len(prefix) < length else int(prefix[:length])
    low = max(0, min(10**length - 1, base - draw(st.sampled_from([0, 1, 7, 120]))))
    high = min(10**length - 1, low + draw(st.sampled_from([0, 1, 5, 99, 5000])))
    return CardRange(f"{low:0{length}d}", f"{high:0{length}d}", draw(st.sampled_from(HOSTS)))


PANS = st.text(alphabet="0123456789", min_size=16, max_size=19)


async def test_range_owner_routes_as_the_switch(database_url: str) -> None:
    examples: list[tuple[list[CardRange], list[str]]] = []

    @settings(max_examples=150, deadline=None)
    @given(ranges=st.lists(card_ranges(), max_size=8),
           pans=st.lists(PANS, min_size=1, max_size=6))
    def collect(ranges: list[CardRange], pans: list[str]) -> None:
        probes = pans + [card_range.bin_low + pans[0] for card_range in ranges] + \
            [card_range.bin_high + pans[0] for card_range in ranges]
        examples.append((ranges, [pan[:19] for pan in probes]))

    collect()
    connection = await asyncpg.connect(database_url)
    try:
        for ranges, pans in examples:
            routes = RouteTable(ranges, default_host=NO_RANGE, known_hosts={*HOSTS, NO_RANGE})
            owners = await _range_owners(connection, ranges, pans)
            for pan, owner in zip(pans, owners, strict=True):
                assert (owner or NO_RANGE) == routes.host_for(pan), (ranges, pan)
    finally:
        await connection.close()


async def _range_owners(
    connection: asyncpg.Connection, ranges: list[CardRange], pans: list[str],
) -> list[str | None]:
    """range_owner of each PAN's mask with exactly `ranges` in card_ranges, oldest first (the
    switch's tie-break); rolled back."""
    transaction = connection.transaction()
    await transaction.start()
    try:
        await connection.execute("DELETE FROM card_ranges")
        await connection.executemany(
            "INSERT INTO card_ranges (bin_low, bin_high, host_name) VALUES ($1, $2, $3)",
            [(r.bin_low, r.bin_high, r.host_name) for r in ranges])
        return [await connection.fetchval(
            "SELECT o.host_name FROM (VALUES ($1::text)) AS c(pan_masked)"
            " LEFT JOIN LATERAL range_owner(c.pan_masked) AS o ON true", _masked(pan))
            for pan in pans]
    finally:
        await transaction.rollback()


def _masked(pan: str) -> str:
    """As cards.pan_masked keeps it: the first 6 digits and the last 4."""
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


async def test_range_owner_is_inlined_into_the_query_that_calls_it(database_url: str) -> None:
    # Called as a function, it costs microseconds a card: seconds at a host's start.
    connection = await asyncpg.connect(database_url)
    try:
        plan = "\n".join(row[0] for row in await connection.fetch(
            "EXPLAIN SELECT c.id FROM cards c"
            " JOIN LATERAL range_owner(c.pan_masked) AS o ON o.host_name = 'main'"))
    finally:
        await connection.close()
    assert "card_ranges" in plan and "Function Scan" not in plan, plan
