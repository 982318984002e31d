"""The risk review queue's gauges (jifen_risk_reviews_open, jifen_risk_review_oldest_age_seconds):
the host's change listener reads them from risk_reviews at each probe of its idle connection,
and sets an alliance whose queue emptied back to 0. Each host reads its own partition's
database, and labels the series with its partition (its name): a p2 host's queue is p2's."""

from __future__ import annotations

import anyio
import asyncpg
import pytest
from prometheus_client import REGISTRY

from account_host.changes import ChangeListener
from tests.account_host.host_harness import CARDS, host_config

pytestmark = pytest.mark.anyio

_RAISE = """
INSERT INTO risk_reviews (alliance_id, card_id, kind, level, business_date, raised_at)
SELECT c.alliance_id, c.id, 'card_points_growth', 'block', current_date,
       now() - make_interval(secs => $1)
FROM cards c ORDER BY c.id LIMIT 1
"""


def _gauges(partition: str = "main") -> tuple[float | None, float | None]:
    labels = {"alliance": "TEST", "partition": partition}
    return (REGISTRY.get_sample_value("jifen_risk_reviews_open", labels),
            REGISTRY.get_sample_value("jifen_risk_review_oldest_age_seconds", labels))


async def test_the_probe_exports_the_queue(seeded_url: str) -> None:
    assert CARDS   # seeded_url has the cards the reviews name
    send, receive = anyio.create_memory_object_stream[object](10)
    listener = ChangeListener(host_config(), seeded_url, send, 0)   # type: ignore[arg-type]
    connection = await asyncpg.connect(seeded_url)
    try:
        await connection.execute(_RAISE, 600.0)
        await connection.execute(_RAISE, 30.0)
        await listener._probe(connection)
        count, age_s = _gauges()
        assert count == 2 and age_s is not None and 600 <= age_s < 660
        await connection.execute("UPDATE risk_reviews SET status = 'confirmed',"
                                 " decided_by = 'x', decided_at = now()")
        await listener._probe(connection)
        assert _gauges() == (0, 0)
        # A host named p2 (on its own database) exports p2's queue beside main's.
        p2 = ChangeListener(host_config(name="p2"), seeded_url, send, 0)  # type: ignore[arg-type]
        await connection.execute(_RAISE, 60.0)
        await p2._probe(connection)
        count, age_s = _gauges("p2")
        assert count == 1 and age_s is not None and 60 <= age_s < 120
        assert _gauges() == (0, 0)
    finally:
        await connection.close()
        send.close()
        receive.close()
