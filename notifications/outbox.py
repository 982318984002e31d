"""The sender's reads of one partition's outbox and its records of what it did (migration 035).

The host and the back office only insert events; the sender never updates them. An event
without a row in notification_deliveries is pending. Every partition's database has both
tables: a partition's deliveries are recorded beside its outbox (the foreign key, and the
anti-joins below, need the two in one database), so each partition's backlog is read from its
own database alone, and central's opt-outs are read apart (opt_outs.py).

The cursor (`floor`) is an id below which every event is done: reads start above it, on the
primary key, so they cost what is pending, not the whole history.
"""

from __future__ import annotations

import asyncpg

from notifications.events import Event, Pending, event_key

_PENDING_SQL = """
SELECT o.id, o.kind, o.card_id, o.created_at, c.member_id, c.alliance_id, o.transaction_id,
       o.transaction_kind, o.points, o.points_balance, o.stored_value_fen,
       o.stored_value_balance_fen, o.tier_before, o.tier, o.status, o.expiry_day,
       o.business_date
FROM notification_outbox o
LEFT JOIN cards c ON c.id = o.card_id
WHERE o.id > $1
  AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.event_id = o.id)
ORDER BY o.id
LIMIT $2
"""

_RECORD_SQL = """
INSERT INTO notification_deliveries (event_id, outcome, attempts, done_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (event_id) DO NOTHING
"""

# The new floor: never past a pending event, nor past an id that may still be committing (one
# created less than settle_s ago may have a later one below it still in flight).
_FLOOR_SQL = """
SELECT greatest($1::bigint, least(
    coalesce((SELECT min(o.id) - 1 FROM notification_outbox o
              WHERE o.id > $1 AND NOT EXISTS (SELECT 1 FROM notification_deliveries d
                                              WHERE d.event_id = o.id)),
             9223372036854775807),
    coalesce((SELECT max(o.id) FROM notification_outbox o
              WHERE o.id > $1 AND o.created_at < now() - make_interval(secs => $2)), $1)))
"""

_BACKLOG_SQL = """
SELECT count(*) AS pending,
       coalesce(extract(epoch FROM now() - min(o.created_at)), 0)::float8 AS oldest_s
FROM notification_outbox o
WHERE o.id > $1
  AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.event_id = o.id)
"""

# Every statement's deadline: each reads or writes on an index, in milliseconds; a server that
# has not answered in this long is out of reach (the sender connects again, with backoff).
STATEMENT_TIMEOUT_S = 30.0

_ROW_FIELDS = tuple(name for name in Event.__struct_fields__ if name not in ("id", "partition"))


async def read_pending(conn: asyncpg.Connection, floor: int, limit: int,
                       partition: str | None = None) -> list[Pending]:
    """Up to `limit` pending events above `floor`, oldest first (so each card's in order), of
    `partition` (None: central's); none opted out yet (opt_outs.py decides)."""
    rows = await conn.fetch(_PENDING_SQL, floor, limit, timeout=STATEMENT_TIMEOUT_S)
    return [Pending(row["id"], Event(id=event_key(partition, row["id"]), partition=partition,
                                     **{name: row[name] for name in _ROW_FIELDS}))
            for row in rows]


async def record(conn: asyncpg.Connection, event_id: int, outcome: str, attempts: int) -> None:
    """The event is done: delivered (after `attempts`) or skipped. Recorded once: a sender that
    delivered it again after a crash keeps the first record."""
    await conn.execute(_RECORD_SQL, event_id, outcome, attempts,
                       timeout=STATEMENT_TIMEOUT_S)


async def next_floor(conn: asyncpg.Connection, floor: int, settle_s: float) -> int:
    value = await conn.fetchval(_FLOOR_SQL, floor, settle_s, timeout=STATEMENT_TIMEOUT_S)
    assert isinstance(value, int) and value >= floor, "the floor never goes back"
    return value


async def backlog(conn: asyncpg.Connection, floor: int) -> tuple[int, float]:
    """How many events are pending, and the age in seconds of the oldest (0: none)."""
    row = await conn.fetchrow(_BACKLOG_SQL, floor, timeout=STATEMENT_TIMEOUT_S)
    assert row is not None
    return int(row["pending"]), float(row["oldest_s"])
