"""Requests and their decision, as an explicit state machine:

    pending --approve--> approved   (the action is carried out in the same transaction)
    pending --reject---> rejected
    pending --expire---> expired    (past expires_at; nothing happens)

Nothing leaves approved, rejected or expired. Who asked and who decided are the sessions'
login roles, set by the database (migration 016), which also refuses a decision by the maker:
the check here only gives the clear message first. Each step writes an audit row whose
request_id links it to the request, as do the action's own rows.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import asyncpg
import msgspec

from back_office.approvals.actions import ACTIONS, Action, Payload
from back_office.approvals.errors import OwnRequestError, RequestDecidedError
from back_office.audit_trail import record
from back_office.operators import OperatorNotFoundError, OperatorRole, current_operator
from back_office.operators.errors import RightRefusedError
from back_office.partition_writes import NO_PARTITION_WRITES, WriteTargets, partition_writes
from back_office.provisioning.errors import InvalidValueError, NotFoundError

# One page of `jifen approval list`.
LIST_LIMIT_MAX = 1_000


class ApprovalRequest(msgspec.Struct, frozen=True):
    id: int
    action: str
    subject: str
    state: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    result: str | None


_COLUMNS = ("id, action, subject, state, requested_by, requested_at, expires_at, decided_by,"
            " decided_at, note, result")


async def submit(
    conn: asyncpg.Connection, action: str, subject: str, payload: Payload,
    expires_in: timedelta,
) -> ApprovalRequest:
    """A pending request; nothing else changes until a second operator approves it."""
    assert action in ACTIONS, action
    async with conn.transaction():
        await expire_overdue(conn)   # the makers keep the table's states true as they go
        row = await conn.fetchrow(
            f"INSERT INTO approval_requests (action, subject, payload, expires_at)"
            f" VALUES ($1, $2, $3::jsonb, now() + $4::interval) RETURNING {_COLUMNS}",
            action, subject, json.dumps(payload), expires_in)
        assert row is not None
        await record(conn, "approval.request", "approval", str(row["id"]),
                     after={"action": action, "subject": subject}, request_id=row["id"])
    return ApprovalRequest(**dict(row))


async def approve(
    conn: asyncpg.Connection, request_id: int, note: str | None = None,
    partitions: WriteTargets = NO_PARTITION_WRITES,
) -> ApprovalRequest:
    """Carry the request out and mark it approved, in one transaction; what it writes in
    another partition commits right after it (back_office/partition_writes.py)."""
    async with partition_writes(partitions) as writes, conn.transaction():
        row, payload = await _pending(conn, request_id)
        action = ACTIONS[row["action"]]
        await _check_approver(conn, action, "approve")
        result = await action.execute(conn, payload, request_id, writes)
        decided = await _decide(conn, request_id, "approved", note, result)
        await record(conn, "approval.approve", "approval", str(request_id),
                     after={"action": action.name, "result": result}, request_id=request_id)
    return decided


async def reject(conn: asyncpg.Connection, request_id: int, note: str) -> ApprovalRequest:
    if not note.strip():
        raise InvalidValueError("say why in --note: the maker reads it")
    async with conn.transaction():
        row, _ = await _pending(conn, request_id)
        await _check_approver(conn, ACTIONS[row["action"]], "reject")
        decided = await _decide(conn, request_id, "rejected", note, None)
        await record(conn, "approval.reject", "approval", str(request_id),
                     after={"action": row["action"], "note": note}, request_id=request_id)
    return decided


async def expire_overdue(conn: asyncpg.Connection) -> int:
    """Mark every pending request past its time expired; how many."""
    status = await conn.execute("UPDATE approval_requests SET state = 'expired'"
                                " WHERE state = 'pending' AND expires_at <= now()")
    return int(status.split()[-1])


# A pending request past its time reads as expired before anyone marks it: listing is a read
# (an auditor may list, and may not write), and nothing can approve it any more.
_LISTED_COLUMNS = (
    "id, action, subject,"
    " CASE WHEN state = 'pending' AND expires_at <= now() THEN 'expired' ELSE state END AS state,"
    " requested_by, requested_at, expires_at, decided_by, decided_at, note, result")


async def list_requests(
    conn: asyncpg.Connection, *, pending_only: bool = True, limit: int = 100,
) -> list[ApprovalRequest]:
    """The newest first; an overdue request shows as expired."""
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise InvalidValueError(f"--limit is 1 to {LIST_LIMIT_MAX}")
    where = "WHERE state = 'pending' AND expires_at > now()" if pending_only else ""
    rows = await conn.fetch(f"SELECT {_LISTED_COLUMNS} FROM approval_requests {where}"
                            " ORDER BY id DESC LIMIT $1", limit)
    return [ApprovalRequest(**dict(row)) for row in rows]


async def _pending(conn: asyncpg.Connection, request_id: int) -> tuple[asyncpg.Record, Payload]:
    row = await conn.fetchrow(
        "SELECT id, action, state, requested_by, expires_at <= now() AS overdue, payload"
        " FROM approval_requests WHERE id = $1 FOR UPDATE", request_id)
    if row is None:
        raise NotFoundError(f"no approval request {request_id}; `jifen approval list` shows"
                            " the pending ones")
    if row["state"] != "pending":
        raise RequestDecidedError(f"request {request_id} is {row['state']} already")
    if row["requested_by"] == await conn.fetchval("SELECT session_user"):
        raise OwnRequestError(f"request {request_id} is yours: a second operator approves or"
                              " rejects it")
    if row["overdue"]:
        raise RequestDecidedError(f"request {request_id} has expired: ask again")
    return row, json.loads(row["payload"])


async def _check_approver(conn: asyncpg.Connection, action: Action, verb: str) -> None:
    """An operator decides only the actions their role may decide; the installer (no
    operator: the account that installed Jifen) decides any, but never its own."""
    try:
        operator = await current_operator(conn)
    except OperatorNotFoundError:
        return
    if operator.role not in action.approvers:
        who = " or ".join(role.spoken for role in OperatorRole if role in action.approvers)
        raise RightRefusedError(f"operator {operator.name} ({operator.role.spoken}) may not"
                                f" {verb} a request to {action.what}: needs {who}")


async def _decide(
    conn: asyncpg.Connection, request_id: int, state: str, note: str | None,
    result: str | None,
) -> ApprovalRequest:
    row = await conn.fetchrow(
        f"UPDATE approval_requests SET state = $2, note = $3, result = $4 WHERE id = $1"
        f" RETURNING {_COLUMNS}", request_id, state, note, result)
    assert row is not None, "locked by _pending"
    return ApprovalRequest(**dict(row))
