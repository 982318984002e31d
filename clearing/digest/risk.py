"""The digest's risk queue: the alliance's open risk reviews (risk control, `jifen risk
queue`) at the time the digest is made, by level, with the oldest's age. A host writes the
reviews it raises into its own partition's database, so every partition is read."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import asyncpg

from clearing.digest.model import RiskQueue
from clearing.partition_reads import on_every_other

# Through the partial index risk_reviews_open (alliance_id, raised_at) WHERE status = 'open'.
_OPEN_SQL = """
SELECT level, count(*) AS open, min(raised_at) AS oldest
FROM risk_reviews WHERE alliance_id = $1 AND status = 'open'
GROUP BY level
"""


async def risk_queue(
    conn: asyncpg.Connection, others: Mapping[str, asyncpg.Connection], alliance_id: int,
) -> RiskQueue:
    """Open reviews over central (`conn`, in the caller's transaction) and every other
    partition."""
    rows = list(await conn.fetch(_OPEN_SQL, alliance_id))
    for found in await on_every_other(
            others, lambda connection: connection.fetch(_OPEN_SQL, alliance_id)):
        rows += found
    counts = {"warning": 0, "block": 0}
    oldest: datetime | None = None
    for row in rows:
        counts[row["level"]] = counts.get(row["level"], 0) + row["open"]
        if oldest is None or row["oldest"] < oldest:
            oldest = row["oldest"]
    return RiskQueue(open_warnings=counts["warning"], open_blocks=counts["block"],
                     oldest_open_at=oldest)
