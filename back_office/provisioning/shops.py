"""Shops (门店): a level under a merchant. Terminals belong to a shop; settlement stays per
merchant. A shop made inactive makes its terminals answer 58 until it is active again.

Services read terminals whole and join their shop, so a shop's change is announced as a change
of the terminals (`proto.changes`): one reload, in the front and in the host.
"""

from __future__ import annotations

import re

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning import validate
from back_office.provisioning.errors import DuplicateError, InvalidValueError, NotFoundError
from back_office.provisioning.merchants import merchant_id
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table

_SHOP_CODE = re.compile(r"[A-Z0-9]{1,15}")


class Shop(msgspec.Struct, frozen=True):
    shop_code: str
    merchant_code: str
    name: str
    active: bool
    terminals: int


_SELECT = (
    "SELECT s.shop_code, m.merchant_code, s.name, s.active,"
    " (SELECT count(*) FROM terminals t WHERE t.shop_id = s.id) AS terminals"
    " FROM shops s JOIN merchants m ON m.id = s.merchant_id"
)


def shop_code(code: str) -> str:
    if not _SHOP_CODE.fullmatch(code):
        raise InvalidValueError(f"shop code {code!r} must be 1-15 of A-Z and 0-9")
    return code


async def create_shop(
    conn: asyncpg.Connection, merchant_code: str, code: str, name: str,
) -> Shop:
    code, name = shop_code(code), validate.name(name)
    try:
        async with conn.transaction():
            merchant = await merchant_id(conn, merchant_code)
            await conn.execute("INSERT INTO shops (merchant_id, shop_code, name)"
                               " VALUES ($1, $2, $3)", merchant, code, name)
            await record(conn, "shop.create", "shop", code, merchant_id=merchant,
                         after={"name": name, "active": True})
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateError(f"shop {code} already exists") from exc
    return await _shop(conn, code)


async def set_shop_active(conn: asyncpg.Connection, code: str, active: bool) -> Shop:
    async with conn.transaction():
        before = await conn.fetchrow("SELECT merchant_id, active FROM shops"
                                     " WHERE shop_code = $1 FOR UPDATE", shop_code(code))
        if before is None:
            raise NotFoundError(f"no shop {code}; `jifen shop list` shows them")
        await conn.execute("UPDATE shops SET active = $2 WHERE shop_code = $1", code, active)
        await record(conn, "shop.activate" if active else "shop.deactivate", "shop", code,
                     merchant_id=before["merchant_id"], before={"active": before["active"]},
                     after={"active": active})
        await notify_change(conn, Change(Table.TERMINALS))
    return await _shop(conn, code)


async def list_shops(conn: asyncpg.Connection, merchant_code: str | None = None) -> list[Shop]:
    if merchant_code is None:
        rows = await conn.fetch(f"{_SELECT} ORDER BY s.shop_code")
    else:
        await merchant_id(conn, merchant_code)  # an unknown merchant is an error, not []
        rows = await conn.fetch(f"{_SELECT} WHERE m.merchant_code = $1 ORDER BY s.shop_code",
                                merchant_code)
    return [Shop(**dict(row)) for row in rows]


async def shop_id_of(conn: asyncpg.Connection, code: str, merchant: int) -> int:
    """The id of shop `code`, which must be merchant `merchant`'s."""
    row = await conn.fetchrow("SELECT id, merchant_id FROM shops WHERE shop_code = $1",
                              shop_code(code))
    if row is None:
        raise NotFoundError(f"no shop {code}; `jifen shop list` shows them")
    if row["merchant_id"] != merchant:
        raise InvalidValueError(f"shop {code} is another merchant's")
    return row["id"]


async def _shop(conn: asyncpg.Connection, code: str) -> Shop:
    row = await conn.fetchrow(f"{_SELECT} WHERE s.shop_code = $1", code)
    assert row is not None, "the shop just written"
    return Shop(**dict(row))
