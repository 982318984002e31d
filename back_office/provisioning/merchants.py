"""Merchants of an alliance: where members earn and spend points (ISO field 42)."""

from __future__ import annotations

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning import validate
from back_office.provisioning.alliances import alliance_id
from back_office.provisioning.errors import DuplicateError, InvalidValueError, NotFoundError
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table


class Merchant(msgspec.Struct, frozen=True):
    id: int
    merchant_code: str
    alliance_code: str
    name: str
    active: bool
    earn_points_per_yuan: int
    category: str | None = None   # its base rate may be its category's (docs/rules.md)


_SELECT = (
    "SELECT m.id, m.merchant_code, a.code AS alliance_code, m.name, m.active,"
    " m.earn_points_per_yuan, m.category"
    " FROM merchants m JOIN alliances a ON a.id = m.alliance_id"
)


def _merchant(row: asyncpg.Record) -> Merchant:
    return Merchant(**dict(row))


async def create_merchant(
    conn: asyncpg.Connection, alliance_code: str, merchant_code: str, name: str,
    earn_points_per_yuan: int = 1, active: bool = True,
) -> Merchant:
    code = validate.merchant_code(merchant_code)
    values = (validate.name(name), validate.rate(earn_points_per_yuan, "earn points per yuan", 0))
    try:
        async with conn.transaction():
            alliance = await alliance_id(conn, alliance_code)
            merchant = await conn.fetchval(
                "INSERT INTO merchants (merchant_code, alliance_id, name, earn_points_per_yuan,"
                " active) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                code, alliance, *values, active,
            )
            await record(conn, "merchant.create", "merchant", code, merchant_id=merchant,
                         after={"alliance_code": alliance_code, "name": values[0],
                                "earn_points_per_yuan": values[1], "active": active})
            await notify_change(conn, Change(Table.MERCHANTS))
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateError(f"merchant {code} already exists") from exc
    return await _one(conn, "m.id = $1", merchant)


async def list_merchants(
    conn: asyncpg.Connection, alliance_code: str | None = None
) -> list[Merchant]:
    if alliance_code is None:
        rows = await conn.fetch(f"{_SELECT} ORDER BY m.merchant_code")
    else:
        await alliance_id(conn, alliance_code)  # an unknown alliance is an error, not []
        rows = await conn.fetch(f"{_SELECT} WHERE a.code = $1 ORDER BY m.merchant_code",
                                alliance_code)
    return [_merchant(row) for row in rows]


async def set_merchant_active(
    conn: asyncpg.Connection, merchant_code: str, active: bool
) -> Merchant:
    async with conn.transaction():
        before = await conn.fetchrow(
            "SELECT id, active FROM merchants WHERE merchant_code = $1 FOR UPDATE",
            merchant_code)
        if before is None:
            raise NotFoundError(f"no merchant {merchant_code}; `jifen merchant list` shows them")
        updated = await conn.fetchval(
            "UPDATE merchants SET active = $2 WHERE id = $1 RETURNING id", before["id"], active,
        )
        assert updated == before["id"], "the row locked above"
        await record(conn, "merchant.activate" if active else "merchant.deactivate",
                     "merchant", merchant_code, merchant_id=updated,
                     before={"active": before["active"]}, after={"active": active})
        await notify_change(conn, Change(Table.MERCHANTS))
    return await _one(conn, "m.id = $1", updated)


async def update_merchant(
    conn: asyncpg.Connection, merchant_code: str, *, name: str | None = None,
    earn_points_per_yuan: int | None = None, category: str | None = None,
) -> Merchant:
    """A merchant's name, earn rate or category ("" clears it); only what is given changes.
    The host hears it (NOTIFY) and earns by the new values from its next request."""
    if name is None and earn_points_per_yuan is None and category is None:
        raise InvalidValueError("nothing to change: give --name, --earn-points-per-yuan or"
                                " --category")
    changes: dict[str, object] = {}
    if category is not None:
        changes["category"] = validate.category(category) if category else None
    if name is not None:
        changes["name"] = validate.name(name)
    if earn_points_per_yuan is not None:
        changes["earn_points_per_yuan"] = validate.rate(earn_points_per_yuan,
                                                        "earn points per yuan", 0)
    async with conn.transaction():
        before = await conn.fetchrow(
            "SELECT id, name, earn_points_per_yuan, category FROM merchants"
            " WHERE merchant_code = $1"
            " FOR UPDATE", merchant_code)
        if before is None:
            raise NotFoundError(f"no merchant {merchant_code}; `jifen merchant list` shows them")
        assignments = ", ".join(f"{column} = ${n}" for n, column in enumerate(changes, 2))
        await conn.execute(f"UPDATE merchants SET {assignments} WHERE id = $1", before["id"],
                           *changes.values())
        await record(conn, "merchant.update", "merchant", merchant_code,
                     merchant_id=before["id"],
                     before={column: before[column] for column in changes}, after=changes)
        await notify_change(conn, Change(Table.MERCHANTS))
    return await _one(conn, "m.id = $1", before["id"])


async def merchant_id(conn: asyncpg.Connection, merchant_code: str) -> int:
    found = await conn.fetchval(
        "SELECT id FROM merchants WHERE merchant_code = $1", merchant_code
    )
    if found is None:
        raise NotFoundError(f"no merchant {merchant_code}; `jifen merchant list` shows them")
    return found


async def _one(conn: asyncpg.Connection, where: str, *args: object) -> Merchant:
    row = await conn.fetchrow(f"{_SELECT} WHERE {where}", *args)
    assert row is not None
    return _merchant(row)
