"""Adding, listing, restocking and withdrawing gifts.

The back office writes a gift's row once (with its first stock); the database lets it do no
more (migration 021). Restock and withdraw are host commands, written with their audit row and
announced in one transaction, then waited for like a card's (back_office/balances).
"""

from __future__ import annotations

import re

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning import validate
from back_office.provisioning.alliances import alliance_id
from back_office.provisioning.errors import DuplicateError, InvalidValueError, NotFoundError
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table
from proto.host_commands import (
    RESTOCK_QUANTITY_MAX,
    CommandKind,
    GiftPayload,
    InvalidCommand,
    check_gift_payload,
    encode_payload,
)

# gift_catalogue's own constraint (migration 002): what tag GC carries.
_GIFT_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
# The highest price a gift may have: field 4 of its redemption is n12.
GIFT_POINTS_MAX = 10**12 - 1
# The most a gift may start with: far beyond any shelf (the host's own ceiling is higher).
GIFT_STOCK_INITIAL_MAX = 10**9
# One listing: a catalogue holds hundreds of gifts.
LIST_LIMIT_MAX = 10_000


class GiftEntry(msgspec.Struct, frozen=True):
    alliance: str
    code: str
    name: str
    points: int
    stock: int | None       # None: not counted (a gift made before stock was kept)
    active: bool            # False: withdrawn; redemptions of it get 05
    host: str               # the account host that keeps its stock


_COLUMNS = ("a.code AS alliance, g.gift_code AS code, g.name, g.points, g.stock, g.active,"
            " g.host_name AS host")
_FROM = "FROM gift_catalogue g JOIN alliances a ON a.id = g.alliance_id"


def _gift_code(code: str) -> str:
    if not _GIFT_CODE.fullmatch(code):
        raise InvalidValueError(f"gift code {code!r}: 1 to 32 letters, digits, '_' or '-'")
    return code


async def add_gift(
    conn: asyncpg.Connection, alliance: str, code: str, name: str, points: int, stock: int,
    host_name: str = "main",
) -> GiftEntry:
    """A new gift with its first stock; the host hears of it and takes it from there."""
    if not 0 < points <= GIFT_POINTS_MAX:
        raise InvalidValueError(f"a gift's price is 1 to {GIFT_POINTS_MAX} points")
    if not 0 <= stock <= GIFT_STOCK_INITIAL_MAX:
        raise InvalidValueError(f"a gift's first stock is 0 to {GIFT_STOCK_INITIAL_MAX}")
    values = (_gift_code(code), validate.name(name), points, stock, host_name)
    try:
        async with conn.transaction():
            owner = await alliance_id(conn, alliance)
            await conn.execute(
                "INSERT INTO gift_catalogue (alliance_id, gift_code, name, points, stock,"
                " stock_initial, host_name) VALUES ($1, $2, $3, $4, $5, $5, $6)",
                owner, *values)
            gift = await _gift(conn, alliance, code)
            await record(conn, "gift.add", "gift", f"{alliance}/{code}",
                         after=_audited(gift))
            await notify_change(conn, Change(Table.GIFT_CATALOGUE))
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateError(f"alliance {alliance} has a gift {code} already") from exc
    except asyncpg.CheckViolationError as exc:
        raise InvalidValueError(f"gift {code}: {exc}") from exc
    return gift


async def list_gifts(
    conn: asyncpg.Connection, alliance: str | None = None, limit: int = 1_000,
) -> list[GiftEntry]:
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise InvalidValueError(f"--limit is 1 to {LIST_LIMIT_MAX}")
    async with conn.transaction(readonly=True):
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} {_FROM} WHERE ($1::text IS NULL OR a.code = $1)"
            " ORDER BY a.code, g.gift_code LIMIT $2", alliance, limit)
    return [GiftEntry(**dict(row)) for row in rows]


async def restock_gift(
    conn: asyncpg.Connection, alliance: str, code: str, quantity: int, reason: str,
) -> int:
    """The command's id: `quantity` more of the gift, when the host applies it."""
    if not 0 < quantity <= RESTOCK_QUANTITY_MAX:
        raise InvalidValueError(f"a restock adds 1 to {RESTOCK_QUANTITY_MAX} gifts")
    return await _submit(conn, CommandKind.GIFT_RESTOCK, alliance, code, quantity, reason)


async def withdraw_gift(conn: asyncpg.Connection, alliance: str, code: str, reason: str) -> int:
    """The command's id: the gift is no longer redeemed (05) once the host applies it."""
    return await _submit(conn, CommandKind.GIFT_WITHDRAWAL, alliance, code, 0, reason)


async def _submit(
    conn: asyncpg.Connection, kind: CommandKind, alliance: str, code: str, quantity: int,
    reason: str,
) -> int:
    async with conn.transaction():
        owner = await alliance_id(conn, alliance)
        before = await _gift(conn, alliance, code)
        payload = GiftPayload(owner, code, reason, quantity)
        try:
            check_gift_payload(kind, payload)
        except InvalidCommand as exc:
            raise InvalidValueError(str(exc)) from exc
        command_id = await conn.fetchval(
            "INSERT INTO host_commands (kind, payload, gift_alliance_id, gift_code)"
            " VALUES ($1, $2::jsonb, $3, $4) RETURNING id",
            kind.value, encode_payload(payload), owner, code)
        await record(conn, f"command.{kind.value}", "gift", f"{alliance}/{code}",
                     before={"stock": before.stock, "active": before.active},
                     after={"command": command_id, "quantity": quantity, "reason": reason})
        await notify_change(conn, Change(Table.HOST_COMMANDS))
    assert isinstance(command_id, int)
    return command_id


async def _gift(conn: asyncpg.Connection, alliance: str, code: str) -> GiftEntry:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} {_FROM} WHERE a.code = $1 AND g.gift_code = $2", alliance, code)
    if row is None:
        raise NotFoundError(f"alliance {alliance} has no gift {code}; `jifen gift list` shows"
                            " them")
    return GiftEntry(**dict(row))


def _audited(gift: GiftEntry) -> dict[str, object]:
    return msgspec.structs.asdict(gift)
