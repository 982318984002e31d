"""What must survive: a restart keeps balances and idempotency keys; a batch that cannot
commit answers 96 and leaves nothing half-applied; the host recovers by itself from a database
error, and ends on a broken invariant (never answering 96 for what is durable)."""

from __future__ import annotations

import anyio
import asyncpg
import pytest
from prometheus_client import REGISTRY

from account_host.card_store import Card
from account_host.context import ApplyContext
from account_host.journal import BatchWrite
from account_host.state import Merchant
from account_host.transactions import KINDS, CardCheck, TransactionKind
from proto.frames import Answer, Balances, Request
from tests.account_host.host_harness import (
    CARDS,
    WAIT_S,
    Terminal,
    answer_of_a_cut_off_batch,
    fetch,
    fetchval,
    host_config,
    running_host,
    transaction_amounts,
)

pytestmark = pytest.mark.anyio


async def test_restart_keeps_balances_and_idempotency_keys(seeded_url: str) -> None:
    terminal = Terminal()
    purchase = terminal.purchase(CARDS[0], 50000)
    async with running_host(seeded_url) as host:
        first = await host.ask(purchase)
    async with running_host(seeded_url) as host:
        again = await host.ask(purchase)
        inquiry = await host.ask(terminal.inquiry(CARDS[0]))
        second = await host.ask(terminal.purchase(CARDS[0], 100))
    assert first.response_code == "00"
    assert (again.rrn, again.auth_code, again.balances) == \
        (first.rrn, first.auth_code, first.balances)
    assert inquiry.balances == Balances(500, 0, 0)
    assert second.balances == Balances(501, 0, 1)
    # A restart skips the rest of the identifier blocks: new RRNs are never reused ones.
    assert int(second.rrn or 0) > int(inquiry.rrn or 0) > int(first.rrn or 0)
    assert await fetchval(seeded_url, "SELECT count(*) FROM transactions") == 2


async def test_terminated_connection_mid_batch_answers_96_and_host_recovers(
    seeded_url: str,
) -> None:
    terminal = Terminal()
    failures_before = REGISTRY.get_sample_value("jifen_host_batch_failures_total") or 0.0
    async with running_host(seeded_url) as host:
        assert (await host.ask(terminal.purchase(CARDS[0], 10000))).response_code == "00"
        failed = await answer_of_a_cut_off_batch(
            host, seeded_url, terminal.purchase(CARDS[0], 20000))
        after = await host.ask(terminal.purchase(CARDS[0], 30000))
    assert failed.response_code == "96"
    assert after.response_code == "00"
    assert after.balances == Balances(400, 0, 300)   # 100 + 300: the failed 200 is not there
    assert await fetchval(seeded_url, "SELECT count(*) FROM transactions") == 2
    assert await fetchval(
        seeded_url, "SELECT balance FROM accounts WHERE kind = 'member_points'") == 400
    failures = REGISTRY.get_sample_value("jifen_host_batch_failures_total") or 0.0
    assert failures == failures_before + 1


async def test_commit_timeout_answers_96_and_the_stale_statement_never_lands(
    seeded_url: str,
) -> None:
    terminal = Terminal()
    config = host_config(commit_timeout_s=0.3)
    async with running_host(seeded_url, config) as host:
        assert (await host.ask(terminal.purchase(CARDS[1], 10000))).response_code == "00"
        blocker = await asyncpg.connect(seeded_url)
        try:
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE host_requests IN EXCLUSIVE MODE")
                stuck = host.send([terminal.purchase(CARDS[1], 20000)])
                (failed,) = await host.wait_answers(stuck)
                # Still holding the lock: recovery fences the timed-out writer's backend
                # (terminating it) before it reloads, so its statement can never commit later.
        finally:
            await blocker.close()
        after = await host.ask(terminal.purchase(CARDS[1], 40000))
    assert failed.response_code == "96"
    assert after.balances == Balances(500, 0, 400)
    assert await transaction_amounts(seeded_url) == [10000, 40000]


async def test_burst_of_200_is_answered_in_batches(seeded_url: str) -> None:
    terminal = Terminal()
    batches_before = REGISTRY.get_sample_value("jifen_host_batch_size_count") or 0.0
    requests = [terminal.purchase(CARDS[serial % len(CARDS)], 1000 + serial)
                for serial in range(200)]
    async with running_host(seeded_url) as host:
        answers = await host.ask_many(requests)
    assert [answer.response_code for answer in answers] == ["00"] * 200
    batches = (REGISTRY.get_sample_value("jifen_host_batch_size_count") or 0.0) - batches_before
    assert 1 <= batches < 200, "some batch held more than one request"
    assert len({answer.rrn for answer in answers}) == 200
    assert await fetchval(seeded_url, "SELECT count(*) FROM transactions") == 200
    total_points = sum((1000 + serial) // 100 for serial in range(200))
    assert await fetchval(seeded_url, "SELECT sum(amount) FROM postings WHERE amount > 0") == \
        total_points
    assert await fetchval(seeded_url, "SELECT sum(balance) FROM accounts") == 0


async def test_a_broken_invariant_while_applying_ends_the_host_and_nothing_of_its_batch_stays(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A handler that breaks an invariant halfway through a batch: the host ends at once,
    answering nothing (not even 96: its state is not to be trusted), and restarted on the
    database it has nothing of that batch, the purchase applied before it in memory included."""

    def broken(
        context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
    ) -> Answer:
        raise AssertionError("a journal entry must sum to zero")

    # A kind of the spec (the host refuses others before any handler): redemptions break.
    monkeypatch.setitem(KINDS, ("0200", "900000"),
                        TransactionKind("broken", broken, CardCheck.NONE))
    terminal = Terminal()
    with pytest.raises(ExceptionGroup) as ended:
        async with running_host(seeded_url) as host:
            host.send([
                terminal.purchase(CARDS[7], 10000),
                terminal.request("0200", processing_code="900000", pan=CARDS[7], amount=1,
                                 currency="999", batch_number=1, entry_mode="051"),
            ])
            await _cancelled_when_the_host_ends()
    assert ended.group_contains(AssertionError, match="sum to zero")
    assert not host.answers
    async with running_host(seeded_url) as host:
        inquiry = await host.ask(terminal.inquiry(CARDS[7]))
    assert inquiry.balances == Balances(0, 0, 0)
    assert await fetchval(seeded_url, "SELECT count(*) FROM transactions") == 0


async def test_a_broken_invariant_after_a_commit_ends_the_host_and_never_answers_96(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The statement committed, but the row counts it reports are not what the batch wrote:
    the host ends rather than run on, and above all does not answer 96 for postings that are
    durable. Restarted on the same database, it answers the retransmission with the first
    approval, from the retransmission window."""
    real_counts = BatchWrite.expected_counts

    def one_row_more(batch: BatchWrite) -> tuple[int, ...]:
        accounts, *rest = real_counts(batch)
        return (accounts + 1, *rest)

    purchase = Terminal().purchase(CARDS[10], 10000)
    with monkeypatch.context() as patch:
        patch.setattr(BatchWrite, "expected_counts", one_row_more)
        with pytest.raises(ExceptionGroup) as ended:
            async with running_host(seeded_url) as host:
                host.send([purchase])
                await _cancelled_when_the_host_ends()
    assert ended.group_contains(AssertionError, match="lost rows")
    assert not host.answers, "answered although the host had to end"
    (posted,) = await fetch(seeded_url, "SELECT amount, rrn, auth_code FROM transactions")
    assert posted["amount"] == 10000
    assert await fetchval(
        seeded_url, "SELECT balance FROM accounts WHERE kind = 'member_points'") == 100
    async with running_host(seeded_url) as host:
        again = await host.ask(purchase)
    assert again.response_code == "00"
    assert (again.rrn, again.auth_code) == (posted["rrn"], posted["auth_code"])
    assert again.balances == Balances(100, 0, 100)
    assert await fetchval(seeded_url, "SELECT count(*) FROM transactions") == 1


async def _cancelled_when_the_host_ends() -> None:
    """Waits until the host's end cancels the test's task group (a TimeoutError if it lives)."""
    with anyio.fail_after(WAIT_S):
        await anyio.Event().wait()
