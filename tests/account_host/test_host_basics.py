"""The host end to end over a real link: sign-on, inquiry, purchase, declines, retransmission."""

from __future__ import annotations

import asyncpg
import msgspec
import pytest
from structlog.testing import capture_logs

from account_host.idempotency import replay_answer
from proto.fields import parse_tlv
from proto.frames import Balances
from tests.account_host.host_harness import (
    BLOCKED_CARD,
    CARDS,
    EXPIRED_CARD,
    LOST_CARD,
    OTHER_RANGE_CARD,
    STOLEN_CARD,
    UNISSUED_CARD,
    ZERO_RATE_MERCHANT,
    ZERO_RATE_TERMINAL,
    Terminal,
    fetch,
    fetchval,
    running_host,
)

pytestmark = pytest.mark.anyio


async def test_sign_on_gives_batch_1(seeded_url: str) -> None:
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        answer = await host.ask(terminal.sign_on())
        others = await host.ask_many([terminal.request("0800", network_code=code)
                                      for code in ("002", "301", "101")])
    assert (answer.response_code, answer.batch_number) == ("00", 1)
    assert [other.response_code for other in others] == ["00", "00", "00"]


async def test_inquiry_on_a_fresh_card_gives_zero_and_creates_nothing(seeded_url: str) -> None:
    async with running_host(seeded_url) as host:
        answer = await host.ask(Terminal().inquiry(CARDS[0]))
    assert answer.response_code == "00"
    assert answer.balances == Balances(0, 0, 0)
    assert answer.rrn is not None and len(answer.rrn) == 12 and answer.rrn.isdigit()
    assert await fetchval(seeded_url, "SELECT count(*) FROM accounts") == 0
    assert await fetchval(seeded_url, "SELECT count(*) FROM host_requests") == 1


async def test_purchase_earns_points_in_one_balanced_entry(seeded_url: str) -> None:
    terminal = Terminal()
    async with running_host(seeded_url) as host:
        answer = await host.ask(terminal.purchase(CARDS[0], 12345))
        inquiry = await host.ask(terminal.inquiry(CARDS[0]))
    assert answer.response_code == "00"
    assert answer.rrn is not None and len(answer.rrn) == 12 and answer.rrn.isdigit()
    assert answer.auth_code is not None and len(answer.auth_code) == 6
    assert answer.auth_code.isalnum() and answer.auth_code.upper() == answer.auth_code
    assert answer.balances == Balances(123, 0, 123)
    assert parse_tlv(answer.additional_data or "") == {"PT": "+123"}
    assert inquiry.balances == Balances(123, 0, 0)
    assert inquiry.rrn != answer.rrn
    entries = await fetch(seeded_url, """
        SELECT e.id, e.ledger, sum(p.amount) AS total, count(*) AS postings
        FROM journal_entries e JOIN postings p ON p.entry_id = e.id GROUP BY e.id""")
    assert [(row["ledger"], row["total"], row["postings"]) for row in entries] == \
        [("points", 0, 2)]
    mismatched = await fetchval(seeded_url, """
        SELECT count(*) FROM accounts a
        WHERE a.balance <>
              (SELECT coalesce(sum(amount), 0) FROM postings WHERE account_id = a.id)""")
    assert mismatched == 0
    accounts = await fetch(seeded_url, "SELECT kind, balance FROM accounts ORDER BY kind")
    assert [tuple(row) for row in accounts] == \
        [("member_points", 123), ("merchant_points_issued", -123)]
    transaction = (await fetch(seeded_url, "SELECT * FROM transactions"))[0]
    assert (transaction["kind"], transaction["amount"], transaction["points"],
            transaction["rrn"], transaction["auth_code"], transaction["batch_number"]) == \
        ("purchase", 12345, 123, answer.rrn, answer.auth_code, 1)


async def test_purchase_that_earns_nothing_has_a_transaction_and_no_entry(
    seeded_url: str,
) -> None:
    terminal = Terminal(ZERO_RATE_TERMINAL, ZERO_RATE_MERCHANT)
    async with running_host(seeded_url) as host:
        answer = await host.ask(terminal.purchase(CARDS[1], 5000))
    assert answer.response_code == "00"
    assert answer.balances == Balances(0, 0, 0)
    assert parse_tlv(answer.additional_data or "") == {"PT": "+0"}
    assert await fetchval(seeded_url, "SELECT count(*) FROM transactions") == 1
    assert await fetchval(seeded_url, "SELECT count(*) FROM journal_entries") == 0
    assert await fetchval(seeded_url, "SELECT count(*) FROM accounts") == 0


async def test_retransmission_gets_the_first_answer_and_posts_nothing(seeded_url: str) -> None:
    terminal = Terminal()
    purchase = terminal.purchase(CARDS[2], 10000)
    async with running_host(seeded_url) as host:
        first = await host.ask(purchase)
        counts = await _row_counts(seeded_url)
        again = await host.ask(purchase)
        twice_in_one_batch = await host.ask_many([purchase, purchase])
        counts_after = await _row_counts(seeded_url)
        inquiry = await host.ask(terminal.inquiry(CARDS[2]))
    assert first.response_code == "00"
    for answer in (again, *twice_in_one_batch):
        assert (answer.response_code, answer.rrn, answer.auth_code, answer.balances,
                answer.additional_data) == \
            (first.response_code, first.rrn, first.auth_code, first.balances,
             first.additional_data)
        assert answer.correlation_id != first.correlation_id
    assert counts_after == counts
    assert inquiry.balances == Balances(100, 0, 0)


async def test_every_answer_carries_its_requests_id_and_none_is_stored(seeded_url: str) -> None:
    """The id travels back on each answer (a retransmission's its own, not the first's), is
    in the host's lines about the request, and is not in the answer remembered for it."""
    terminal = Terminal()
    purchase = msgspec.structs.replace(terminal.purchase(CARDS[2], 10000),
                                       request_id="0a1b2c3d-1")
    again = msgspec.structs.replace(purchase, request_id="0a1b2c3d-2")
    declined = msgspec.structs.replace(terminal.inquiry(LOST_CARD), request_id="0a1b2c3d-3")
    async with running_host(seeded_url) as host:
        with capture_logs() as logs:
            answers = [await host.ask(request) for request in (purchase, again, declined)]
    assert [answer.response_code for answer in answers] == ["00", "00", "41"]
    assert [answer.request_id for answer in answers] == ["0a1b2c3d-1", "0a1b2c3d-2",
                                                         "0a1b2c3d-3"]
    stored = await fetch(seeded_url, "SELECT answer FROM host_requests")
    assert stored and all(replay_answer(row["answer"], 1).request_id == "" for row in stored)
    lines = {(line["event"], line.get("request_id")) for line in logs}
    assert {("answered", "0a1b2c3d-1"), ("answered", "0a1b2c3d-2"), ("answered", "0a1b2c3d-3"),
            ("card_declined", "0a1b2c3d-3")} <= lines


async def test_a_key_older_than_the_window_is_a_new_request(seeded_url: str) -> None:
    terminal = Terminal()
    purchase = terminal.purchase(CARDS[6], 10000)
    connection = await asyncpg.connect(seeded_url)
    try:
        # Last year's request with the same terminal, STAN and MMDDhhmmss.
        await connection.execute(
            "INSERT INTO host_requests VALUES ($1, $2, $3, $4, '\\x00', '\\x00', "
            "now() - interval '365 days')",
            purchase.terminal_code, purchase.mti, purchase.stan, purchase.transmission_time)
    finally:
        await connection.close()
    async with running_host(seeded_url) as host:
        answer = await host.ask(purchase)
    assert answer.response_code == "00"
    rows = await fetch(seeded_url, "SELECT received_at > now() - interval '1 hour' AS recent, "
                                   "length(content_digest) AS digest FROM host_requests")
    assert [tuple(row) for row in rows] == [(True, 16)]


async def test_same_key_with_other_content_gets_94_and_is_not_recorded(seeded_url: str) -> None:
    terminal = Terminal()
    purchase = terminal.purchase(CARDS[3], 10000)
    async with running_host(seeded_url) as host:
        first = await host.ask(purchase)
        changed = await host.ask(purchase.__class__(**{
            **{field: getattr(purchase, field) for field in purchase.__struct_fields__},
            "amount": 20000}))
        again = await host.ask(purchase)
    assert (first.response_code, changed.response_code) == ("00", "94")
    assert again.rrn == first.rrn
    assert await fetchval(seeded_url, "SELECT count(*) FROM host_requests") == 1
    assert await fetchval(seeded_url, "SELECT count(*) FROM transactions") == 1


async def test_declines_in_the_order_of_checks(seeded_url: str) -> None:
    terminal = Terminal()
    luhn_bad = CARDS[4][:-1] + str((int(CARDS[4][-1]) + 1) % 10)
    cases = {
        "14 unknown": (terminal.purchase(UNISSUED_CARD, 100), "14"),
        "14 other host's range": (terminal.purchase(OTHER_RANGE_CARD, 100), "14"),
        "14 Luhn": (terminal.purchase(luhn_bad, 100), "14"),
        "14 too short": (terminal.purchase(CARDS[4][:15], 100), "14"),
        "13 amount 0": (terminal.purchase(CARDS[4], 0), "13"),
        "41 lost": (terminal.purchase(LOST_CARD, 100), "41"),
        "43 stolen": (terminal.purchase(STOLEN_CARD, 100), "43"),
        "05 blocked": (terminal.purchase(BLOCKED_CARD, 100), "05"),
        "54 expired": (terminal.purchase(EXPIRED_CARD, 100), "54"),
        "12 wrong batch": (terminal.purchase(CARDS[4], 100, batch_number=2), "12"),
        "12 batch before card": (terminal.purchase(LOST_CARD, 100, batch_number=7), "12"),
        "41 card before amount": (terminal.purchase(LOST_CARD, 0), "41"),
        "12 not a kind of this host": (terminal.request(
            "0200", processing_code="310000", pan=CARDS[4], amount=100, currency="156",
            batch_number=1), "12"),
    }
    async with running_host(seeded_url) as host:
        answers = await host.ask_many([request for request, _ in cases.values()])
        # A declined request is recorded too: its retransmission gets the same decline.
        lost_again = await host.ask(cases["41 lost"][0])
    got = {name: answer.response_code for name, answer in zip(cases, answers, strict=True)}
    assert got == {name: code for name, (_, code) in cases.items()}
    assert lost_again.response_code == "41"
    # ... except a refusal of checks 1 to 4 (12 for the kind, 30, 58, 03): nothing is kept.
    assert await fetchval(seeded_url, "SELECT count(*) FROM host_requests") == len(cases) - 1
    assert await fetchval(seeded_url, "SELECT count(*) FROM transactions") == 0


async def _row_counts(database_url: str) -> tuple[object, ...]:
    rows = await fetch(database_url, """
        SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM journal_entries),
               (SELECT count(*) FROM postings), (SELECT count(*) FROM host_requests),
               (SELECT sum(balance) FILTER (WHERE kind = 'member_points') FROM accounts)""")
    return tuple(rows[0])
