"""The queue's rows for operators (`jifen saf list`): never the PAN in clear."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from proto.fields import parse_original_data

# A list is for reading: past this the oldest rows are shown and the rest counted.
LISTED_ROWS_MAX = 1_000

_LIST = """
SELECT id, state, origin, terminal_code, stan, original_data, reason_code, processing_code,
       amount, currency, pan_masked, attempts, last_response_code, created_at,
       next_attempt_at, settled_at
FROM front_saf WHERE $1 OR state = 'pending' ORDER BY id LIMIT $2
"""


class SafRow(msgspec.Struct, frozen=True):
    id: int
    state: str
    origin: str
    terminal_code: str
    stan: str
    original: str            # the original's MTI/STAN/field 7, from field 90
    reason_code: str | None  # None for a 0500 owed
    processing_code: str | None
    amount: int | None
    currency: str | None
    pan: str | None          # masked
    attempts: int
    last_response_code: str | None
    created_at: datetime
    next_attempt_at: datetime | None   # None once settled
    settled_at: datetime | None


async def list_saf(connection: asyncpg.Connection, *, include_settled: bool = False,
                   rows_max: int = LISTED_ROWS_MAX) -> list[SafRow]:
    """Pending rows (every row with include_settled), oldest first."""
    records = await connection.fetch(_LIST, include_settled, rows_max)
    return [_row(record) for record in records]


def _row(record: asyncpg.Record) -> SafRow:
    original = parse_original_data(record["original_data"])
    pending = record["state"] == "pending"
    return SafRow(
        id=record["id"], state=record["state"], origin=record["origin"],
        terminal_code=record["terminal_code"], stan=record["stan"],
        original=f"{original.mti}/{original.stan}/{original.transmission_time}",
        reason_code=record["reason_code"], processing_code=record["processing_code"],
        amount=record["amount"], currency=record["currency"], pan=record["pan_masked"],
        attempts=record["attempts"], last_response_code=record["last_response_code"],
        created_at=record["created_at"],
        next_attempt_at=record["next_attempt_at"] if pending else None,
        settled_at=record["settled_at"],
    )
