"""The notification events the batch statement derives from the transactions it writes
(account_host/journal.py, migration 035): several postings of one card in one group commit
each get the balance after their own posting, and event ids follow the journal's order."""

from __future__ import annotations

import asyncpg
import pytest

from tests.account_host.host_harness import (
    CARDS,
    Terminal,
    fetch,
    running_host,
    wait_writer_waits_on_lock,
)

pytestmark = pytest.mark.anyio


async def test_postings_of_one_card_in_one_batch_each_get_their_own_balance(
        seeded_url: str) -> None:
    terminal = Terminal()
    pan = CARDS[3]
    async with running_host(seeded_url) as host:
        assert (await host.ask(terminal.sign_on())).response_code == "00"
        blocker = await asyncpg.connect(seeded_url)
        try:
            async with blocker.transaction():   # the first batch waits; the rest pile up
                await blocker.execute("LOCK TABLE host_requests IN EXCLUSIVE MODE")
                first = host.send([terminal.purchase(pan, 1_000)])
                await wait_writer_waits_on_lock(blocker)
                piled = host.send([terminal.purchase(pan, amount)
                                   for amount in (2_000, 3_000, 4_000)])
            answers = await host.wait_answers(first + piled)
        finally:
            await blocker.close()
    assert [answer.response_code for answer in answers] == ["00"] * 4
    events = await fetch(seeded_url,
                         "SELECT o.id, o.transaction_id, o.points, o.points_balance, t.posted_at"
                         " FROM notification_outbox o JOIN transactions t"
                         " ON t.id = o.transaction_id ORDER BY o.id")
    assert len({row["posted_at"] for row in events[1:]}) == 1, "the three in one batch"
    assert [row["transaction_id"] for row in events] == \
        sorted(row["transaction_id"] for row in events)
    points = [row["points"] for row in events]
    assert [row["points_balance"] for row in events] == \
        [sum(points[:index + 1]) for index in range(len(points))]
    assert all(point > 0 for point in points)
