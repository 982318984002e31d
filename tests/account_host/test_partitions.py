"""A host is one partition (migration 029): its row ids lie above its number's base, its RRNs in
its own ranges, and it serves the cards whose narrowest card range names it. Over TCP, with the
database set up as a second partition's would be (docs/plans/partitions.md, step 1)."""

from __future__ import annotations

import asyncpg
import pytest

from proto.frames import Totals
from tests.account_host.host_harness import (
    CARDS,
    LOST_CARD,
    UNISSUED_CARD,
    Terminal,
    fetch,
    host_config,
    insert_cards,
    make_pan,
    running_host,
)
from tests.account_host.test_host_ledger import reconciliation, reversal

pytestmark = pytest.mark.anyio

ID_BASE = 1 << 48          # partition number 1
P2_RRNS = (2_000_000_000, 2_000_000_009)     # one block of 10
P2_MORE_RRNS = (3_000_000_000, 3_000_000_099)

# What `partition add p2` will do (step 3) to p2's database: the partition, its number's id
# base in host_counters, an RRN range of its own (main's ends below it), the BIN routed to it.
P2_SQL = f"""
INSERT INTO partitions (name, number, state) VALUES ('p2', 1, 'ready');
UPDATE rrn_ranges SET last_rrn = 999999999 WHERE partition = 'main';
INSERT INTO rrn_ranges (partition, first_rrn, last_rrn) VALUES ('p2', {P2_RRNS[0]}, {P2_RRNS[1]});
UPDATE host_counters SET next_value = {ID_BASE}
WHERE name IN ('transaction', 'entry', 'account');
UPDATE card_ranges SET host_name = 'p2';
"""


async def _execute(database_url: str, sql: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def test_a_second_partition_takes_ids_above_its_base_and_rrns_in_its_ranges(
    seeded_url: str,
) -> None:
    await _execute(seeded_url, P2_SQL)
    terminal = Terminal()
    async with running_host(seeded_url, host_config(name="p2", id_block_size=10)) as host:
        first = [await host.ask(terminal.purchase(pan, 1_000)) for pan in CARDS[:10]]
        spent = await host.ask(terminal.purchase(CARDS[10], 1_000))
        await _execute(seeded_url, "INSERT INTO rrn_ranges (partition, first_rrn, last_rrn)"
                                   f" VALUES ('p2', {P2_MORE_RRNS[0]}, {P2_MORE_RRNS[1]})")
        resumed = await host.ask(terminal.purchase(CARDS[11], 1_000))
    assert [answer.response_code for answer in first] == ["00"] * 10
    assert sorted(int(answer.rrn or "") for answer in first) == list(
        range(P2_RRNS[0], P2_RRNS[1] + 1))
    assert spent.response_code == "96"   # no range with room for a block: nothing posted
    assert resumed.response_code == "00" and int(resumed.rrn or "") == P2_MORE_RRNS[0]
    [ids] = await fetch(seeded_url, """
        SELECT (SELECT array_agg(id) FROM transactions) AS transactions,
               (SELECT array_agg(id) FROM journal_entries) AS entries,
               (SELECT array_agg(id) FROM accounts) AS accounts,
               (SELECT array_agg(rrn::bigint) FROM transactions) AS rrns""")
    # a points account per card and the merchant's
    assert len(ids["transactions"]) == 11 and len(ids["accounts"]) == 12
    for name in ("transactions", "entries", "accounts"):
        assert all(ID_BASE <= value < 2 * ID_BASE for value in ids[name]), name
    assert sorted(ids["rrns"]) == sorted(int(answer.rrn or "") for answer in [*first, resumed])


async def test_a_host_that_is_no_partition_answers_96(seeded_url: str) -> None:
    await _execute(seeded_url, "UPDATE card_ranges SET host_name = 'nowhere'")
    terminal = Terminal()
    async with running_host(seeded_url, host_config(name="nowhere")) as host:
        answer = await host.ask(terminal.purchase(CARDS[0], 1_000))
    assert answer.response_code == "96"
    assert await fetch(seeded_url, "SELECT 1 FROM transactions") == []


async def test_a_card_in_a_narrower_range_of_another_host_is_not_served(
    seeded_url: str,
) -> None:
    # A wide range of main's (6221) covers the seeded BIN 622188, whose own, narrower range
    # names p2: the switch routes 622188 cards to p2, so main must not hold them.
    wide_card = make_pan(5, bin_="622100")
    connection = await asyncpg.connect(seeded_url)
    try:
        await connection.execute(
            "INSERT INTO partitions (name, number, state) VALUES ('p2', 1, 'ready');"
            "UPDATE card_ranges SET host_name = 'p2';"
            "INSERT INTO card_ranges (bin_low, bin_high, host_name)"
            " VALUES ('6221', '6221', 'main')")
        await insert_cards(connection, [(wide_card, "active", "2099-12-31")])
    finally:
        await connection.close()
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        narrow = await host.ask(terminal.purchase(CARDS[0], 1_000))
        wide = await host.ask(terminal.purchase(wide_card, 1_000))
    assert narrow.response_code == "14"   # p2's card: main does not hold it
    assert wide.response_code == "00"


async def test_requests_and_tombstones_name_their_card_and_a_closed_batch_both_totals(
    seeded_url: str,
) -> None:
    # What a range's move takes along (its cards' remembered requests and tombstones), and
    # what a report sums over a batch's parts in several partitions.
    terminal = Terminal()
    never_sent = terminal.purchase(CARDS[2], 700)
    claimed = Totals(purchases_count=2, purchases_fen=1_500)
    async with running_host(seeded_url) as host:
        answers = [await host.ask(request) for request in (
            terminal.purchase(CARDS[0], 1_000), terminal.purchase(LOST_CARD, 1_000),
            terminal.purchase(UNISSUED_CARD, 1_000), reversal(terminal, never_sent),
            reconciliation(terminal, 1, claimed))]
    assert [answer.response_code for answer in answers] == ["00", "41", "14", "25", "95"]
    cards = dict(await fetch(seeded_url, "SELECT right(pan_masked, 4), id FROM cards"))
    requests = await fetch(seeded_url, "SELECT mti, stan, card_id FROM host_requests"
                                       " ORDER BY stan")
    assert [tuple(row) for row in requests] == [
        ("0200", "000002", cards[CARDS[0][-4:]]), ("0200", "000003", cards[LOST_CARD[-4:]]),
        ("0200", "000004", None), ("0400", "000005", cards[CARDS[2][-4:]]),
        ("0500", "000006", None)]
    tombstones = await fetch(seeded_url, "SELECT stan, card_id FROM reversal_tombstones")
    assert [tuple(row) for row in tombstones] == [("000001", cards[CARDS[2][-4:]])]
    batches = await fetch(seeded_url, "SELECT batch_number, result_code, claimed, counted"
                                      " FROM terminal_batches ORDER BY batch_number")
    assert [tuple(row) for row in batches] == [
        (1, "95", [2, 1_500, 0, 0, 0, 0, 0, 0], [1, 1_000, 0, 0, 0, 0, 0, 0]),
        (2, None, None, None)]
