"""The pipelined writer: the next batch is applied while the previous one commits. What must
hold: nothing is answered before what it was applied on is durable, and a batch applied on top
of one that fails is applied again to the reloaded state."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import asyncpg
import msgspec
import pytest
from anyio.streams.memory import MemoryObjectSendStream
from prometheus_client import REGISTRY

from account_host.intake import Intake
from account_host.writer import APPLY_SLICE, Pending, _Applied, _InFlight
from proto.frames import Balances, Request
from tests.account_host.host_harness import (
    CARDS,
    WAIT_S,
    HostClient,
    Terminal,
    fetch,
    running_host,
    transaction_amounts,
    wait_writer_waits_on_lock,
)

pytestmark = pytest.mark.anyio

# How long a test lets the writer take a request it was sent (it takes it in microseconds).
_SETTLE_S = 0.3


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """How often each request (by correlation id) was applied to the state."""
    counts: Counter[int] = Counter()
    original = _Applied.add

    def counting(self: _Applied, pending: Pending) -> None:
        counts.update(request.correlation_id for _, request in pending)
        original(self, pending)

    monkeypatch.setattr(_Applied, "add", counting)
    return counts


@asynccontextmanager
async def _second_on_first_in_flight(
    database_url: str, host: HostClient, applied: Counter[int], first: Request, second: Request,
) -> AsyncIterator[tuple[Request, Request, asyncpg.Connection]]:
    """`first` sent and its statement held on a lock of host_requests (by the connection
    yielded), then `second` sent and applied on top of it; the lock goes on exit."""
    blocker = await asyncpg.connect(database_url)
    try:
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE host_requests IN EXCLUSIVE MODE")
            (sent_first,) = host.send([first])
            await wait_writer_waits_on_lock(blocker)
            (sent_second,) = host.send([second])
            await _wait_applied(applied, [sent_second])
            yield sent_first, sent_second, blocker
    finally:
        await blocker.close()


async def _wait_applied(applied: Counter[int], requests: list[Request]) -> None:
    with anyio.fail_after(WAIT_S):
        while not all(applied[request.correlation_id] for request in requests):
            await anyio.sleep(0.01)


async def _terminate_writer(blocker: asyncpg.Connection) -> None:
    """Cut the writer's connection (its statement in flight fails)."""
    await blocker.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def _two_purchases(terminal: Terminal, card: str) -> tuple[Request, Request]:
    """100 points, then 200, on one card."""
    return terminal.purchase(card, 10000), terminal.purchase(card, 20000)


def _batch_sizes() -> tuple[float, float]:
    """Group commits so far, and the requests they held."""
    return (REGISTRY.get_sample_value("jifen_host_batch_size_count") or 0.0,
            REGISTRY.get_sample_value("jifen_host_batch_size_sum") or 0.0)


async def test_a_batch_applied_on_a_failed_one_is_applied_again_on_the_reloaded_state(
    seeded_url: str, applied: Counter[int],
) -> None:
    terminal = Terminal()
    purchases = _two_purchases(terminal, CARDS[3])
    async with running_host(seeded_url) as host:
        async with _second_on_first_in_flight(
                seeded_url, host, applied, *purchases) as (first, second, blocker):
            await anyio.sleep(_SETTLE_S)
            assert not host.answers, "answered before the batch in flight committed"
            await _terminate_writer(blocker)
        failed, approved = await host.wait_answers([first, second])
    assert applied[second.correlation_id] == 2, "not applied on top of the batch in flight"
    assert failed.response_code == "96"
    assert approved.response_code == "00"
    # Applied again without the failed 100 points: the first application is gone.
    assert approved.balances == Balances(200, 0, 200)
    assert await transaction_amounts(seeded_url) == [20000]
    assert await fetch(seeded_url, "SELECT balance FROM accounts "
                                   "WHERE kind = 'member_points'") == [(200,)]


async def test_a_batch_applied_on_one_that_commits_is_committed_after_it(
    seeded_url: str, applied: Counter[int],
) -> None:
    terminal = Terminal()
    purchases = _two_purchases(terminal, CARDS[4])
    async with running_host(seeded_url) as host:
        async with _second_on_first_in_flight(
                seeded_url, host, applied, *purchases) as (first, second, _):
            pass
        answers = await host.wait_answers([first, second])
    assert applied[second.correlation_id] == 1
    assert [answer.balances for answer in answers] == \
        [Balances(100, 0, 100), Balances(300, 0, 200)]
    assert await transaction_amounts(seeded_url) == [10000, 20000]


async def test_a_retransmission_is_not_answered_before_its_original_commits(
    seeded_url: str, applied: Counter[int],
) -> None:
    """The retransmission writes nothing (its batch is empty), but the approval it repeats is
    not durable until the batch in flight commits."""
    purchase = Terminal().purchase(CARDS[5], 10000)
    async with running_host(seeded_url) as host:
        async with _second_on_first_in_flight(
                seeded_url, host, applied, purchase, purchase) as (original, again, _):
            await anyio.sleep(_SETTLE_S)
            assert not host.answers, "a retransmission answered before its original commits"
        first, second = await host.wait_answers([original, again])
    assert first.response_code == second.response_code == "00"
    assert (second.rrn, second.auth_code) == (first.rrn, first.auth_code)
    assert await fetch(seeded_url, "SELECT count(*) FROM transactions") == [(1,)]


async def test_requests_that_arrive_during_a_commit_go_out_with_the_next_statement(
    seeded_url: str, applied: Counter[int],
) -> None:
    """Not with the one after: the batch applied on top of the one in flight goes on taking
    what arrives until that commit is over."""
    terminal = Terminal()
    count_before, sum_before = _batch_sizes()
    purchases = _two_purchases(terminal, CARDS[6])
    async with running_host(seeded_url) as host:
        async with _second_on_first_in_flight(
                seeded_url, host, applied, *purchases) as (first, second, _):
            later = [*host.send([terminal.purchase(CARDS[7], 30000)]),
                     *host.send([terminal.purchase(CARDS[6], 40000)])]
            await _wait_applied(applied, later)
        answers = await host.wait_answers([first, second, *later])
    assert [answer.response_code for answer in answers] == ["00"] * 4
    assert answers[3].balances == Balances(700, 0, 400)
    count_after, sum_after = _batch_sizes()
    assert (count_after - count_before, sum_after - sum_before) == (2, 4)


async def test_requests_added_to_a_batch_on_a_failed_one_are_applied_again(
    seeded_url: str, applied: Counter[int],
) -> None:
    terminal = Terminal()
    purchases = _two_purchases(terminal, CARDS[8])
    async with running_host(seeded_url) as host:
        async with _second_on_first_in_flight(
                seeded_url, host, applied, *purchases) as (first, second, blocker):
            (later,) = host.send([terminal.purchase(CARDS[8], 40000)])
            await _wait_applied(applied, [later])
            await _terminate_writer(blocker)
        answers = await host.wait_answers([first, second, later])
    assert [answer.response_code for answer in answers] == ["96", "00", "00"]
    assert applied[later.correlation_id] == 2
    assert answers[2].balances == Balances(600, 0, 400)   # 200 + 400: the failed 100 is gone
    assert await transaction_amounts(seeded_url) == [20000, 40000]


async def test_a_request_that_comes_as_the_batch_it_would_join_is_sent_waits_for_the_next(
    seeded_url: str, applied: Counter[int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The committing task sends the next statement the moment the first commits; a request
    the writer receives in that same instant is not added to the batch already sent (its rows
    would be missing from the statement) and is not lost: it goes out with the next one."""
    queues: list[MemoryObjectSendStream] = []
    original_intake_init = Intake.__init__

    def capturing_intake_init(self: Intake, queue: MemoryObjectSendStream) -> None:
        queues.append(queue)
        original_intake_init(self, queue)

    monkeypatch.setattr(Intake, "__init__", capturing_intake_init)
    terminal = Terminal()
    late = msgspec.structs.replace(terminal.purchase(CARDS[9], 50000), correlation_id=10_000)
    original_over = _InFlight.over

    def deliver_then_over(self: _InFlight, *, failed: bool = False) -> None:
        if self.successor is not None and not failed and late.correlation_id not in applied:
            # It reaches the writer, waiting for requests, just before the commit is over.
            queues[0].send_nowait((self.applied.pending[0][0], late))
        original_over(self, failed=failed)

    monkeypatch.setattr(_InFlight, "over", deliver_then_over)
    count_before, _ = _batch_sizes()
    purchases = _two_purchases(terminal, CARDS[9])
    async with running_host(seeded_url) as host:
        async with _second_on_first_in_flight(
                seeded_url, host, applied, *purchases) as (first, second, _):
            pass
        answers = await host.wait_answers([first, second, late])
    assert [answer.response_code for answer in answers] == ["00"] * 3
    assert answers[2].balances == Balances(800, 0, 500)
    assert applied[late.correlation_id] == 1
    count_after, _ = _batch_sizes()
    assert count_after - count_before == 3, "the late request joined a statement already sent"
    assert await transaction_amounts(seeded_url) == [10000, 20000, 50000]


async def test_a_burst_with_nothing_in_flight_goes_a_slice_first(seeded_url: str) -> None:
    """With nothing in flight the database waits: the first APPLY_SLICE requests of a burst
    go at once, and the rest is applied on top of them while they commit."""
    terminal = Terminal()
    requests = [terminal.purchase(CARDS[index % 4], 100 + index) for index in range(100)]
    async with running_host(seeded_url) as host:
        answers = await host.ask_many(requests)
    assert [answer.response_code for answer in answers] == ["00"] * 100
    # Each group commit stamps its rows with its own instant.
    batches = await fetch(seeded_url, "SELECT received_at, count(*) AS requests"
                                      " FROM host_requests GROUP BY 1 ORDER BY 1")
    sizes = [batch["requests"] for batch in batches]
    assert sum(sizes) == 100 and len(sizes) >= 2
    assert sizes[0] <= APPLY_SLICE
