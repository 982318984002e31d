"""Commands to the account host: written with their audit row and announced in one
transaction, then waited for (the host writes the outcome into the row when it commits)."""

from __future__ import annotations

from datetime import datetime

import anyio
import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning.errors import InvalidValueError
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table
from proto.host_commands import (
    CommandKind,
    CommandPayload,
    InvalidCommand,
    check_payload,
    encode_payload,
)

# How often a waiting operator's session looks at the row: the host decides a command in one
# group commit (milliseconds), so a few looks a second cost nothing and feel immediate.
_POLL_INTERVAL_S = 0.05
# One page of `jifen card commands`.
LIST_LIMIT_MAX = 1_000


class CommandOutcome(msgspec.Struct, frozen=True):
    id: int
    kind: str
    subject: str | None
    state: str                       # pending, done, refused
    result_code: str | None          # 00, or the refusal's code (host interface codes)
    result: str | None
    transaction_id: int | None
    approval_id: int | None
    requested_by: str
    requested_at: datetime
    done_at: datetime | None


# A command's subject: its card (masked), or its gift (a gift command has no card).
_COLUMNS = ("h.id, h.kind, coalesce(c.pan_masked, 'gift ' || h.gift_code) AS subject,"
            " h.state, h.result_code, h.result, h.transaction_id, h.approval_id,"
            " h.requested_by, h.requested_at, h.done_at")
_FROM = "FROM host_commands h LEFT JOIN cards c ON c.id = h.card_id"


async def submit_command(
    conn: asyncpg.Connection, kind: CommandKind, payload: CommandPayload, subject: str, *,
    approval_id: int | None = None,
) -> int:
    """The command's id; the host applies it when it hears of it (or when it next starts)."""
    try:
        check_payload(kind, payload)
    except InvalidCommand as exc:
        raise InvalidValueError(str(exc)) from exc
    async with conn.transaction():
        command_id = await conn.fetchval(
            "INSERT INTO host_commands (kind, payload, card_id, other_card_id, approval_id)"
            " VALUES ($1, $2::jsonb, $3, $4, $5) RETURNING id",
            kind.value, encode_payload(payload), payload.card_id, payload.other_card_id,
            approval_id)
        await record(conn, f"command.{kind.value}", "card", subject, after={
            "command": command_id, "points": payload.points,
            "stored_value_fen": payload.stored_value_fen, "other_card_id": payload.other_card_id,
            "reason": payload.reason}, request_id=approval_id)
        await notify_change(conn, Change(Table.HOST_COMMANDS))
    assert isinstance(command_id, int)
    return command_id


async def wait_for_outcome(
    conn: asyncpg.Connection, command_id: int, timeout_s: float,
) -> CommandOutcome:
    """The command as it stands once the host has decided it, or after `timeout_s` (still
    pending: the host is down or busy; it applies the command when it can)."""
    with anyio.move_on_after(timeout_s):
        while True:
            outcome = await _outcome(conn, "h.id = $1", command_id)
            if outcome.state != "pending":
                return outcome
            await anyio.sleep(_POLL_INTERVAL_S)
    return await _outcome(conn, "h.id = $1", command_id)


async def outcome_of_request(conn: asyncpg.Connection, request_id: int,
                             timeout_s: float) -> CommandOutcome | None:
    """The command an approved request made (None: the request's action is no command)."""
    command_id = await conn.fetchval("SELECT id FROM host_commands WHERE approval_id = $1",
                                     request_id)
    if command_id is None:
        return None
    return await wait_for_outcome(conn, command_id, timeout_s)


async def find_commands(
    conn: asyncpg.Connection, *, card_id: int | None = None, pending_only: bool = False,
    limit: int = 100,
) -> list[CommandOutcome]:
    """The newest first, in a read-only transaction."""
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise InvalidValueError(f"--limit is 1 to {LIST_LIMIT_MAX}")
    async with conn.transaction(readonly=True):
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} {_FROM}"
            " WHERE ($1::bigint IS NULL OR h.card_id = $1 OR h.other_card_id = $1)"
            "   AND (NOT $2 OR h.state = 'pending')"
            " ORDER BY h.id DESC LIMIT $3", card_id, pending_only, limit)
    return [CommandOutcome(**dict(row)) for row in rows]


async def _outcome(conn: asyncpg.Connection, where: str, value: int) -> CommandOutcome:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} {_FROM} WHERE {where}", value)
    assert row is not None, "a command is never deleted"
    return CommandOutcome(**dict(row))
