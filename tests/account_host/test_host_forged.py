"""Frames built by hand and sent straight to the host's link port, past the front: the host
checks the terminal, merchant and fields again (§4: 30, 58, 03) and posts nothing."""

from __future__ import annotations

import random
import string

import asyncpg
import pytest

from account_host import metrics
from back_office.ledger_check.runner import audit_database
from proto.codes import ResponseCode
from proto.frames import Request
from proto.messages import KNOWN_MTIS, MTI_LABEL_OTHER
from tests.account_host.host_harness import (
    CARDS,
    MERCHANT,
    TERMINAL,
    ZERO_RATE_MERCHANT,
    Terminal,
    ask_until,
    fetchval,
    running_host,
)

pytestmark = pytest.mark.anyio


def stored_value_load(terminal: Terminal, batch_number: int | None) -> Request:
    return terminal.request("0200", processing_code="210000", pan=CARDS[3], amount=99_999_999,
                            currency="156", batch_number=batch_number, entry_mode="051")


async def _nothing_kept(database_url: str) -> None:
    for table in ("transactions", "journal_entries", "postings", "host_requests", "accounts"):
        assert await fetchval(database_url, f"SELECT count(*) FROM {table}") == 0, table


async def test_the_finding_a_load_from_an_unregistered_terminal_without_60_is_refused(
    seeded_url: str,
) -> None:
    forged = Terminal("FORGED01", MERCHANT)
    async with running_host(seeded_url) as host:
        answer = await host.ask(stored_value_load(forged, batch_number=None))
    assert (answer.response_code, answer.rrn, answer.balances) == ("30", None, None)
    await _nothing_kept(seeded_url)
    assert (await audit_database(seeded_url)).clean


async def test_an_unregistered_terminal_is_refused_58_and_nothing_is_journaled(
    seeded_url: str,
) -> None:
    forged = Terminal("FORGED01", MERCHANT)
    async with running_host(seeded_url) as host:
        answers = await host.ask_many([stored_value_load(forged, batch_number=1),
                                       forged.purchase(CARDS[3], 10_000), forged.sign_on(),
                                       forged.inquiry(CARDS[3])])
    assert [answer.response_code for answer in answers] == ["58"] * 4
    await _nothing_kept(seeded_url)


async def test_a_terminal_sending_another_merchants_field_42_is_refused_03(
    seeded_url: str,
) -> None:
    borrowed = Terminal(TERMINAL, ZERO_RATE_MERCHANT)   # TERM0001 is MERCHANT's terminal
    async with running_host(seeded_url) as host:
        answers = await host.ask_many([stored_value_load(borrowed, batch_number=1),
                                       borrowed.purchase(CARDS[3], 10_000)])
    assert [answer.response_code for answer in answers] == ["03", "03"]
    await _nothing_kept(seeded_url)


async def test_a_purchase_without_field_60_is_refused_30(seeded_url: str) -> None:
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        answers = await host.ask_many([terminal.purchase(CARDS[3], 10_000, batch_number=None),
                                       stored_value_load(terminal, batch_number=None)])
        # ... and the same request with its batch is served.
        served = await host.ask(terminal.purchase(CARDS[3], 10_000))
    assert [answer.response_code for answer in answers] == ["30", "30"]
    assert served.response_code == "00"
    assert await fetchval(seeded_url, "SELECT count(*) FROM transactions") == 1


async def test_an_amount_beyond_field_4_is_refused_30(seeded_url: str) -> None:
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        answers = await host.ask_many([terminal.purchase(CARDS[3], 10**12),
                                       terminal.purchase(CARDS[3], -1)])
    assert [answer.response_code for answer in answers] == ["30", "30"]
    await _nothing_kept(seeded_url)


async def test_terminals_registered_or_deactivated_while_running_reach_the_host(
    seeded_url: str,
) -> None:
    new = Terminal("TERM0009", MERCHANT)
    async with running_host(seeded_url) as host:
        assert (await host.ask(new.inquiry(CARDS[0]))).response_code == "58"
        connection = await asyncpg.connect(seeded_url)
        try:
            async with connection.transaction():
                await connection.execute(
                    "INSERT INTO terminals (terminal_code, merchant_id) "
                    "SELECT 'TERM0009', id FROM merchants WHERE merchant_code = $1", MERCHANT)
                await connection.execute("NOTIFY jifen_changes, 'terminals'")
            await ask_until(host, lambda: new.inquiry(CARDS[0]), "00")
            async with connection.transaction():
                await connection.execute(
                    "UPDATE terminals SET active = false WHERE terminal_code = 'TERM0009'")
                await connection.execute("NOTIFY jifen_changes, 'terminals'")
            await ask_until(host, lambda: new.inquiry(CARDS[0]), "58")
        finally:
            await connection.close()


async def test_random_mtis_leave_a_bounded_number_of_metric_series(seeded_url: str) -> None:
    """The MTI of the requests metric comes from the wire: only the spec's become labels."""
    generator = random.Random(8583)
    terminal = Terminal()
    mtis = [f"{generator.randrange(10_000):04d}" for _ in range(150)] + [
        "".join(generator.choices(string.printable, k=generator.randrange(1, 40)))
        for _ in range(50)]
    mtis = [mti for mti in mtis if mti not in KNOWN_MTIS]
    async with running_host(seeded_url) as host:
        answers = await host.ask_many([terminal.request(mti) for mti in mtis])
    assert {answer.response_code for answer in answers} == {"12"}
    series = {(sample.labels["mti"], sample.labels["response_code"])
              for metric in metrics.REQUESTS.collect() for sample in metric.samples
              if sample.name == "jifen_host_requests_total"}
    assert {mti for mti, _ in series} <= KNOWN_MTIS | {MTI_LABEL_OTHER}
    assert {code for _, code in series} <= set(ResponseCode) | {MTI_LABEL_OTHER}
    assert ("other", "12") in series
    assert len(series) <= (len(KNOWN_MTIS) + 1) * (len(ResponseCode) + 1)
    await _nothing_kept(seeded_url)
