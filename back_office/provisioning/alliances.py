"""Alliances: the coalition whose merchants share one points currency."""

from __future__ import annotations

from datetime import time

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning import validate
from back_office.provisioning.errors import DuplicateError, InvalidValueError, NotFoundError
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table


class Alliance(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str
    timezone: str
    cutover: str                   # local time of the business-day cutover, HH:MM
    exchange_points_per_yuan: int  # points that buy 100 fen of stored value
    # Loads (210000) and exchanges (400060) from a terminal that need not MAC answer 58
    # (host interface 1.2 §8): they create stored value, so they must come from a terminal
    # that proves it holds its keys.
    requires_mac_for_loads: bool = True
    # Whether members may give each other points (a back-office transfer, approved).
    points_transfer_allowed: bool = False
    # The most of an order that points may pay (900000 with tag OA), in basis points.
    order_points_share_bp: int = 5000


_COLUMNS = ("id, code, name, timezone, cutover_local_time, exchange_points_per_yuan,"
            " requires_mac_for_loads, points_transfer_allowed, order_points_share_bp")
# Basis points in a whole: a share of 10000 lets points pay the whole order.
ORDER_SHARE_BP_MAX = 10_000


def _alliance(row: asyncpg.Record) -> Alliance:
    cutover: time = row["cutover_local_time"]
    return Alliance(row["id"], row["code"], row["name"], row["timezone"],
                    cutover.strftime("%H:%M"), row["exchange_points_per_yuan"],
                    row["requires_mac_for_loads"], row["points_transfer_allowed"],
                    row["order_points_share_bp"])


async def create_alliance(
    conn: asyncpg.Connection, code: str, name: str, timezone: str = "Asia/Shanghai",
    cutover: str = "23:00", exchange_points_per_yuan: int = 100,
    requires_mac_for_loads: bool = True,
) -> Alliance:
    values = (
        validate.alliance_code(code), validate.name(name), validate.timezone(timezone),
        validate.cutover(cutover),
        validate.rate(exchange_points_per_yuan, "exchange points per yuan", 1),
        requires_mac_for_loads,
    )
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO alliances (code, name, timezone, cutover_local_time,"
                " exchange_points_per_yuan, requires_mac_for_loads)"
                " VALUES ($1, $2, $3, $4, $5, $6)"
                f" RETURNING {_COLUMNS}", *values,
            )
            assert row is not None, "INSERT ... RETURNING gives the row"
            alliance = _alliance(row)
            await record(conn, "alliance.create", "alliance", alliance.code,
                         after=_audited(alliance))
            await notify_change(conn, Change(Table.ALLIANCES))
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateError(f"alliance {code} already exists") from exc
    return alliance


def _audited(alliance: Alliance) -> dict[str, object]:
    fields = msgspec.structs.asdict(alliance)
    del fields["id"]
    return fields


async def set_mac_for_loads(
    conn: asyncpg.Connection, code: str, required: bool,
) -> Alliance:
    """Whether the alliance's loads and exchanges need a terminal that MACs; the front hears
    of it through the change notification and answers by it at once."""
    return await _set_flag(conn, code, "requires_mac_for_loads", required)


async def set_points_transfer(
    conn: asyncpg.Connection, code: str, allowed: bool,
) -> Alliance:
    """Whether members of the alliance may give each other points; the host hears of it and
    checks it when it applies a transfer."""
    return await _set_flag(conn, code, "points_transfer_allowed", allowed)


async def set_order_share(conn: asyncpg.Connection, code: str, share_bp: int) -> Alliance:
    """The most of an order that points may pay, in basis points (5000: half; 0: none); the
    host hears of it and caps each 900000 with tag OA by it (61 above)."""
    if not 0 <= share_bp <= ORDER_SHARE_BP_MAX:
        raise InvalidValueError(f"the order share is 0 to {ORDER_SHARE_BP_MAX} basis points")
    async with conn.transaction():
        before = await conn.fetchval(
            "SELECT order_points_share_bp FROM alliances WHERE code = $1 FOR UPDATE", code)
        row = await conn.fetchrow(
            f"UPDATE alliances SET order_points_share_bp = $2 WHERE code = $1"
            f" RETURNING {_COLUMNS}", code, share_bp)
        if row is None:
            raise NotFoundError(f"no alliance {code}; `jifen alliance list` shows them")
        await record(conn, "alliance.set_order_share", "alliance", code,
                     before={"order_points_share_bp": before},
                     after={"order_points_share_bp": share_bp})
        await notify_change(conn, Change(Table.ALLIANCES))
    return _alliance(row)


async def _set_flag(conn: asyncpg.Connection, code: str, column: str, value: bool) -> Alliance:
    assert column in ("requires_mac_for_loads", "points_transfer_allowed"), column
    async with conn.transaction():
        before = await conn.fetchval(
            f"SELECT {column} FROM alliances WHERE code = $1 FOR UPDATE", code)
        row = await conn.fetchrow(
            f"UPDATE alliances SET {column} = $2 WHERE code = $1 RETURNING {_COLUMNS}",
            code, value,
        )
        if row is None:
            raise NotFoundError(f"no alliance {code}; `jifen alliance list` shows them")
        action = "set_mac_for_loads" if column == "requires_mac_for_loads" else column
        await record(conn, f"alliance.{action}", "alliance", code,
                     before={column: before}, after={column: value})
        await notify_change(conn, Change(Table.ALLIANCES))
    return _alliance(row)


async def list_alliances(conn: asyncpg.Connection) -> list[Alliance]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM alliances ORDER BY code")
    return [_alliance(row) for row in rows]


async def alliance_id(conn: asyncpg.Connection, code: str) -> int:
    found = await conn.fetchval("SELECT id FROM alliances WHERE code = $1", code)
    if found is None:
        raise NotFoundError(f"no alliance {code}; `jifen alliance list` shows them")
    return found
