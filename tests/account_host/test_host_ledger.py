"""The ledger's state over a real link: what a restart or a failed batch rebuilds (balances,
the return index, batch totals), and the batch number's wrap."""

from __future__ import annotations

import asyncpg
import pytest

from proto.fields import OriginalData, encode_original_data
from proto.frames import Answer, Balances, Request, Totals
from tests.account_host.host_harness import (
    CARDS,
    Terminal,
    answer_of_a_cut_off_batch,
    fetch,
    fetchval,
    running_host,
)

pytestmark = pytest.mark.anyio


def stored_value_purchase(terminal: Terminal, pan: str, amount_fen: int) -> Request:
    return terminal.request("0200", processing_code="006000", pan=pan, amount=amount_fen,
                            currency="156", batch_number=1, entry_mode="051")


def load(terminal: Terminal, pan: str, amount_fen: int) -> Request:
    return terminal.request("0200", processing_code="210000", pan=pan, amount=amount_fen,
                            currency="156", batch_number=1, entry_mode="051")


def purchase_return(terminal: Terminal, pan: str, amount_fen: int, rrn: str) -> Request:
    return terminal.request("0200", processing_code="200000", pan=pan, amount=amount_fen,
                            currency="156", batch_number=1, rrn=rrn, entry_mode="051")


def reversal(terminal: Terminal, original: Request) -> Request:
    return terminal.request(
        "0400", processing_code=original.processing_code, pan=original.pan,
        amount=original.amount, currency=original.currency, batch_number=1, reason_code="68",
        entry_mode=original.entry_mode, original_data=encode_original_data(OriginalData(
            original.mti, original.stan, original.transmission_time)))


def reconciliation(terminal: Terminal, batch_number: int, totals: Totals) -> Request:
    return terminal.request("0500", processing_code="920000", batch_number=batch_number,
                            totals=totals)


async def test_a_restart_rebuilds_balances_returns_reversals_and_totals(seeded_url: str) -> None:
    terminal = Terminal()
    sv_purchase = stored_value_purchase(terminal, CARDS[0], 4_000)
    async with running_host(seeded_url) as host:
        loads = await host.ask_many([load(terminal, CARDS[0], 6_000),
                                     load(terminal, CARDS[0], 4_000)])
        assert [answer.response_code for answer in loads] == ["00", "00"]
        bought = await host.ask(sv_purchase)
        returned = await host.ask(purchase_return(terminal, CARDS[0], 1_000, bought.rrn or ""))
    assert (bought.balances, returned.balances) == (Balances(40, 6_000, 40),
                                                    Balances(30, 7_000, -10))
    async with running_host(seeded_url) as host:
        inquiry = await host.ask(terminal.inquiry(CARDS[0]))
        too_much = await host.ask(purchase_return(terminal, CARDS[0], 3_001, bought.rrn or ""))
        undone = await host.ask(reversal(terminal, sv_purchase))    # it has a return: 05
        rest = await host.ask(purchase_return(terminal, CARDS[0], 3_000, bought.rrn or ""))
        totals = await host.ask(reconciliation(terminal, 1, Totals(
            purchases_count=1, purchases_fen=4_000, returns_count=2, returns_fen=4_000,
            loads_count=2, loads_fen=10_000)))
    assert inquiry.balances == Balances(30, 7_000, 0)
    assert (too_much.response_code, undone.response_code) == ("13", "05")
    assert rest.balances == Balances(0, 10_000, -30)
    assert (totals.response_code, totals.totals) == ("00", None)
    assert await fetchval(seeded_url, """
        SELECT count(*) FROM accounts a WHERE a.balance <>
               (SELECT coalesce(sum(amount), 0) FROM postings WHERE account_id = a.id)""") == 0


async def test_a_failed_batch_leaves_no_return_and_no_totals_behind(seeded_url: str) -> None:
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        bought = await host.ask(terminal.purchase(CARDS[1], 10_000))
        failed = await answer_of_a_cut_off_batch(
            host, seeded_url, purchase_return(terminal, CARDS[1], 10_000, bought.rrn or ""))
        again = await host.ask(purchase_return(terminal, CARDS[1], 10_000, bought.rrn or ""))
        totals = await host.ask(reconciliation(terminal, 1, Totals(
            purchases_count=1, purchases_fen=10_000, returns_count=1, returns_fen=10_000)))
    assert failed.response_code == "96"
    assert (again.response_code, again.balances) == ("00", Balances(0, 0, -100))
    assert totals.response_code == "00"


async def test_batch_999999_wraps_to_000001(seeded_url: str) -> None:
    connection = await asyncpg.connect(seeded_url)
    try:
        await connection.execute(
            "INSERT INTO terminal_batches (terminal_code, batch_number, opened_at)"
            " VALUES ('TERM0001', 999999, now())")
    finally:
        await connection.close()
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        before = await host.ask(terminal.sign_on())
        closed = await host.ask(reconciliation(terminal, 999_999, Totals()))
        after = await host.ask(terminal.sign_on())
        old: Answer = await host.ask(terminal.purchase(CARDS[2], 100, batch_number=999_999))
        new = await host.ask(terminal.purchase(CARDS[2], 100, batch_number=1))
    assert (before.batch_number, closed.response_code, after.batch_number) == (999_999, "00", 1)
    assert (old.response_code, new.response_code) == ("12", "00")
    rows = await fetch(seeded_url, "SELECT batch_number, closed_at IS NULL AS open, result_code"
                                   " FROM terminal_batches ORDER BY opened_at, batch_number")
    assert [tuple(row) for row in rows] == [(999_999, False, "00"), (1, True, None)]
