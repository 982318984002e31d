"""loadtest.crash_check against a real journal: each category of the verdict, made on purpose."""

from __future__ import annotations

import pytest

from devices import messages
from loadtest.crash_check import check_journal
from loadtest.crash_record import Ledger
from proto.codes import ResponseCode
from tests.e2e.system import CARDS, running_system

pytestmark = pytest.mark.anyio


async def test_each_outcome_is_classified(database_url):
    ledger = Ledger()
    async with running_system(database_url) as system, system.terminal() as terminal:
        await terminal.sign_on()
        kept = (await terminal.exchange(terminal.prepare(
            messages.purchase(CARDS[0], 10_000, terminal.batch_number)))).request
        ledger.answered(ledger.sent(kept), ResponseCode.APPROVED)
        reversed_ = (await terminal.exchange(terminal.prepare(
            messages.purchase(CARDS[1], 20_000, terminal.batch_number)))).request
        record = ledger.sent(reversed_)
        ledger.answered(record, ResponseCode.APPROVED)
        reversal = await terminal.reverse(reversed_)
        assert ledger.reversal_answered(record, reversal["39"])
        never_sent = dict(kept, **{"11": "999999"})
        ledger.sent(never_sent)                     # no answer, absent: fine
    journal = await check_journal(database_url, ledger.requests)
    assert journal.clean, journal.problems
    assert (journal.requests, journal.approvals_checked) == (3, 2)
    assert (journal.reversed_by_terminals, journal.reversed_in_journal) == (1, 1)

    lost = Ledger()
    lost.answered(lost.sent(never_sent), ResponseCode.APPROVED)      # approved, absent
    lost.answered(lost.sent(reversed_), ResponseCode.APPROVED)       # kept, reversed anyway
    unseen = Ledger()
    unseen.answered(unseen.sent(kept), ResponseCode.HOST_UNAVAILABLE)   # 91, posted, standing
    journal = await check_journal(database_url, lost.requests + unseen.requests)
    assert (journal.losses, journal.posted_without_approval, journal.double_posts) == (2, 1, 0)
    assert not journal.clean and len(journal.problems) == 3


async def test_a_key_posted_twice_is_a_double_post(database_url):
    ledger = Ledger()
    async with running_system(database_url) as system, system.terminal() as terminal:
        await terminal.sign_on()
        sent = (await terminal.exchange(terminal.prepare(
            messages.purchase(CARDS[0], 10_000, terminal.batch_number)))).request
        ledger.answered(ledger.sent(sent), ResponseCode.APPROVED)
        await system.fetch(
            "INSERT INTO transactions (id, kind, business_date, posted_at, terminal_code,"
            " merchant_id, card_id, batch_number, mti, stan, transmission_time, amount,"
            " currency, points)"
            " SELECT id + 1000000, kind, business_date, posted_at, terminal_code, merchant_id,"
            " card_id, batch_number, mti, stan, transmission_time, amount, currency, points"
            " FROM transactions WHERE stan = $1 AND terminal_code = $2", sent["11"], sent["41"])
    journal = await check_journal(database_url, ledger.requests)
    assert (journal.double_posts, journal.losses) == (1, 0)
