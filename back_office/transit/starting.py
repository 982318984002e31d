"""Where an approved transfer of points, or a card's replacement, goes: a command to the one
host that holds both cards, or, when the cards are in two partitions, a transfer row the driver
carries out in steps."""

from __future__ import annotations

import asyncpg

from back_office.audit_trail import record
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table
from proto.host_commands import CommandKind, CommandPayload, encode_payload

# The partition (its host's name) whose range holds each card, by the switch's rule.
_OWNERS_SQL = """
SELECT c.id, c.alliance_id, r.host_name
FROM cards c LEFT JOIN LATERAL range_owner(c.pan_masked) AS r ON true
WHERE c.id = ANY($1::bigint[])
"""
_INSERT_SQL = """
INSERT INTO transfers (kind, alliance_id, from_card_id, to_card_id, source, destination,
                       points, stored_value_fen, payload, approval_id)
VALUES ($10, $1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
RETURNING id
"""


async def split_partitions(
    conn: asyncpg.Connection, payload: CommandPayload,
) -> tuple[str, str] | None:
    """(source, destination) when the payload's two cards are in different partitions; None
    when one host holds both (or a card is in no range: that host refuses it, 14)."""
    assert payload.other_card_id is not None
    owners = {row["id"]: row["host_name"] for row in await conn.fetch(
        _OWNERS_SQL, [payload.card_id, payload.other_card_id])}
    source, destination = owners.get(payload.card_id), owners.get(payload.other_card_id)
    if source is None or destination is None or source == destination:
        return None
    return source, destination


async def start_transfer(
    conn: asyncpg.Connection, kind: CommandKind, payload: CommandPayload,
    partitions: tuple[str, str], subject: str, approval_id: int | None,
) -> int:
    """The transfer's row (state requested), its audit row, and the driver told, in the
    caller's transaction (the approval's, or the replacement's). `kind`: a points transfer
    (approved) or a card's replacement (card service's, at the counter)."""
    assert conn.is_in_transaction()
    assert kind in (CommandKind.POINTS_TRANSFER, CommandKind.CARD_REPLACEMENT), kind
    alliance_id = await conn.fetchval("SELECT alliance_id FROM cards WHERE id = $1",
                                      payload.card_id)
    transfer_id = await conn.fetchval(
        _INSERT_SQL, alliance_id, payload.card_id, payload.other_card_id, *partitions,
        payload.points, payload.stored_value_fen, encode_payload(payload), approval_id,
        kind.value)
    await record(conn, f"transfer.{kind.value}", "card", subject, after={
        "transfer": transfer_id, "points": payload.points, "source": partitions[0],
        "destination": partitions[1], "reason": payload.reason}, request_id=approval_id)
    await notify_change(conn, Change(Table.HOST_COMMANDS))
    assert isinstance(transfer_id, int)
    return transfer_id
