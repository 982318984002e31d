"""Transfers between partitions as operators read them (`jifen transit list`, and the approval
that started one waiting for its end), in read-only transactions."""

from __future__ import annotations

from datetime import datetime

import anyio
import asyncpg
import msgspec

from back_office.provisioning.errors import InvalidValueError, NotFoundError
from back_office.transit.states import FINAL

# How often a waiting operator's session looks at the row: each step is a host's group commit
# and a replication round trip (milliseconds to a second).
_POLL_INTERVAL_S = 0.1
LIST_LIMIT_MAX = 1_000


class Transfer(msgspec.Struct, frozen=True):
    id: int
    kind: str
    state: str
    from_card: str           # masked
    to_card: str             # masked
    source: str              # partition
    destination: str
    points: int
    result_code: str | None
    result: str | None
    approval_id: int | None
    requested_by: str
    requested_at: datetime
    updated_at: datetime
    # The final step's transaction (the credit's, or the void's); None while open or refused.
    transaction_id: int | None
    # The last step's command id (None before the debit is written).
    command_id: int | None


_SELECT = """
SELECT t.id, t.kind, t.state, f.pan_masked AS from_card, o.pan_masked AS to_card, t.source,
       t.destination, t.points, t.result_code, t.result, t.approval_id, t.requested_by,
       t.requested_at, t.updated_at, last.transaction_id, last.id AS command_id
FROM transfers t
JOIN cards f ON f.id = t.from_card_id
JOIN cards o ON o.id = t.to_card_id
LEFT JOIN LATERAL (SELECT h.id, h.transaction_id FROM host_commands h
                   WHERE h.transfer_id = t.id ORDER BY h.id DESC LIMIT 1) AS last ON true
"""


async def find_transfers(
    conn: asyncpg.Connection, *, open_only: bool = False, card_id: int | None = None,
    limit: int = 100,
) -> list[Transfer]:
    """The newest first."""
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise InvalidValueError(f"--limit is 1 to {LIST_LIMIT_MAX}")
    async with conn.transaction(readonly=True):
        rows = await conn.fetch(
            _SELECT + " WHERE (NOT $1 OR t.state NOT IN ('refused', 'credited', 'voided'))"
            " AND ($2::bigint IS NULL OR t.from_card_id = $2 OR t.to_card_id = $2)"
            " ORDER BY t.id DESC LIMIT $3", open_only, card_id, limit)
    return [Transfer(**dict(row)) for row in rows]


class TransferStep(msgspec.Struct, frozen=True):
    """One of a transfer's steps as central's copy of its command stands."""

    step: str                # debit, credit, void, in the order written
    command_id: int
    partition: str | None    # the host that decides it (its card's range)
    state: str               # pending, done, refused
    result_code: str | None
    result: str | None
    transaction_id: int | None
    requested_at: datetime
    done_at: datetime | None


class TransferShown(msgspec.Struct, frozen=True):
    transfer: Transfer
    steps: list[TransferStep]


_STEPS_SQL = """
SELECT h.transfer_step AS step, h.id AS command_id, r.host_name AS partition, h.state,
       h.result_code, h.result, h.transaction_id, h.requested_at, h.done_at
FROM host_commands h
JOIN cards c ON c.id = h.card_id
LEFT JOIN LATERAL range_owner(c.pan_masked) AS r ON true
WHERE h.transfer_id = $1
ORDER BY h.id
"""


async def show_transfer(conn: asyncpg.Connection, transfer_id: int) -> TransferShown:
    """The transfer and its steps, in one read-only transaction (NotFoundError: no such)."""
    async with conn.transaction(readonly=True):
        row = await conn.fetchrow(_SELECT + " WHERE t.id = $1", transfer_id)
        if row is None:
            raise NotFoundError(f"no transfer {transfer_id}; `jifen transit list` lists them")
        steps = await conn.fetch(_STEPS_SQL, transfer_id)
    return TransferShown(Transfer(**dict(row)), [TransferStep(**dict(step)) for step in steps])


async def transfer_of_request(conn: asyncpg.Connection, request_id: int) -> int | None:
    value = await conn.fetchval("SELECT id FROM transfers WHERE approval_id = $1", request_id)
    assert value is None or isinstance(value, int)
    return value


async def wait_for_transfer(
    conn: asyncpg.Connection, transfer_id: int, timeout_s: float,
) -> Transfer:
    """The transfer once final, or as it stands after `timeout_s` (a partition's host or the
    driver down: it goes on when they are back)."""
    with anyio.move_on_after(timeout_s):
        while True:
            transfer = await _transfer(conn, transfer_id)
            if transfer.state in FINAL:
                return transfer
            await anyio.sleep(_POLL_INTERVAL_S)
    return await _transfer(conn, transfer_id)


async def _transfer(conn: asyncpg.Connection, transfer_id: int) -> Transfer:
    row = await conn.fetchrow(_SELECT + " WHERE t.id = $1", transfer_id)
    assert row is not None, "a transfer is never deleted"
    return Transfer(**dict(row))
