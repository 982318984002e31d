"""Writing and reading audit rows (`audit_log`, migration 011).

The server fills `at` (now(), the transaction's time, UTC) and `actor` (the login role that
made the change: an operator, or a service role in the installer's mode); no role may INSERT
them. UPDATE and DELETE are refused by a trigger, even to the table's owner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

import asyncpg
import msgspec

from back_office.audit_trail.masking import mask_fields

# One `jifen audit-log` page: a person reads a few hundred rows; more is a query with --from.
AUDIT_LOG_LIMIT_MAX = 10_000
AUDIT_LOG_LIMIT_DEFAULT = 100

_INSERT = (
    "INSERT INTO audit_log (action, object_kind, object_key, merchant_id, before, after,"
    " request_id) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)"
)


class AuditEntry(msgspec.Struct, frozen=True):
    id: int
    at: datetime
    actor: str
    action: str
    object_kind: str
    object_key: str
    merchant_code: str | None
    before: dict[str, object] | None
    after: dict[str, object] | None
    request_id: int | None


class AuditFilter(msgspec.Struct, frozen=True):
    actor: str | None = None
    object_kind: str | None = None
    object_key: str | None = None
    merchant_code: str | None = None
    from_at: datetime | None = None   # inclusive
    to_at: datetime | None = None     # exclusive
    limit: int = AUDIT_LOG_LIMIT_DEFAULT


async def record(
    conn: asyncpg.Connection, action: str, object_kind: str, object_key: str, *,
    merchant_id: int | None = None, before: Mapping[str, object] | None = None,
    after: Mapping[str, object] | None = None, request_id: int | None = None,
) -> None:
    """One audit row, in the caller's transaction (which must be open: a change and its row
    commit together or not at all)."""
    assert conn.is_in_transaction(), "an audit row is written in the change's transaction"
    await conn.execute(_INSERT, action, object_kind, object_key, merchant_id,
                       _json(mask_fields(before)), _json(mask_fields(after)), request_id)


def _json(fields: dict[str, object] | None) -> str | None:
    return None if fields is None else json.dumps(fields, ensure_ascii=False, sort_keys=True)


async def find_entries(conn: asyncpg.Connection, where: AuditFilter) -> list[AuditEntry]:
    """The newest rows first that match every filter given, in a read-only transaction. A
    merchant admin sees its merchant's rows only (row-level security)."""
    assert 1 <= where.limit <= AUDIT_LOG_LIMIT_MAX, "the CLI bounds --limit"
    conditions: list[str] = []
    values: list[object] = []
    for column, value in (("l.actor", where.actor), ("l.object_kind", where.object_kind),
                          ("l.object_key", where.object_key),
                          ("m.merchant_code", where.merchant_code)):
        if value is not None:
            values.append(value)
            conditions.append(f"{column} = ${len(values)}")
    if where.from_at is not None:
        values.append(where.from_at)
        conditions.append(f"l.at >= ${len(values)}")
    if where.to_at is not None:
        values.append(where.to_at)
        conditions.append(f"l.at < ${len(values)}")
    values.append(where.limit)
    sql = ("SELECT l.id, l.at, l.actor, l.action, l.object_kind, l.object_key,"
           " m.merchant_code, l.before, l.after, l.request_id"
           " FROM audit_log l LEFT JOIN merchants m ON m.id = l.merchant_id"
           + (" WHERE " + " AND ".join(conditions) if conditions else "")
           + f" ORDER BY l.at DESC, l.id DESC LIMIT ${len(values)}")
    async with conn.transaction(readonly=True):
        rows = await conn.fetch(sql, *values)
    return [AuditEntry(
        id=row["id"], at=row["at"], actor=row["actor"], action=row["action"],
        object_kind=row["object_kind"], object_key=row["object_key"],
        merchant_code=row["merchant_code"],
        before=json.loads(row["before"]) if row["before"] is not None else None,
        after=json.loads(row["after"]) if row["after"] is not None else None,
        request_id=row["request_id"]) for row in rows]
