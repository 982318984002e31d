"""Terminals of a merchant (ISO field 41), each with its TMK sealed to the front.

The back office holds only the front's public key (`acquirer_front.keystore.TmkSealer`): it
seals a new TMK and can never open one again."""

from __future__ import annotations

import secrets

import asyncpg
import msgspec
from Crypto.Cipher import DES3

from acquirer_front.keystore import TmkSealer
from back_office.audit_trail import record
from back_office.provisioning import validate
from back_office.provisioning.errors import ConflictError, DuplicateError, NotFoundError
from back_office.provisioning.merchants import merchant_id
from back_office.provisioning.notify import notify_change
from back_office.provisioning.shops import shop_id_of
from proto.changes import Change, Table


class Terminal(msgspec.Struct, frozen=True):
    terminal_code: str
    merchant_code: str
    requires_mac: bool
    active: bool
    has_tmk: bool
    shop_code: str | None = None
    # Shown once, at creation and at each new TMK, to compare with the device.
    tmk_check_value: str | None = None


# Equal halves are drawn about once in 2^56 tries; a second in a row means a broken RNG.
_TMK_DRAWS_MAX = 8
_SELECT = (
    "SELECT t.terminal_code, m.merchant_code, t.requires_mac, t.active,"
    " t.tmk_encrypted IS NOT NULL AS has_tmk, s.shop_code"
    " FROM terminals t JOIN merchants m ON m.id = t.merchant_id"
    " LEFT JOIN shops s ON s.id = t.shop_id"
)


def new_tmk() -> bytes:
    """A random double-length DES TMK with odd parity (its halves differ: triple-DES)."""
    for _ in range(_TMK_DRAWS_MAX):
        try:
            return DES3.adjust_key_parity(secrets.token_bytes(validate.TMK_SIZE_BYTES))
        except ValueError:  # equal halves: single DES, draw again
            continue
    raise AssertionError("the random source keeps giving single-DES keys")


def key_check_value(key: bytes) -> str:
    """The usual KCV: first 3 bytes of the key's triple-DES encryption of 8 zero bytes."""
    return DES3.new(key, DES3.MODE_ECB).encrypt(bytes(8))[:3].hex().upper()


async def create_terminal(
    conn: asyncpg.Connection, terminal_code: str, merchant_code: str, tmk: bytes,
    requires_mac: bool = True, shop_code: str | None = None,
) -> Terminal:
    """A new terminal; it requires MAC unless told otherwise (host interface §7: without a
    MAC anyone who knows its terminal and merchant IDs can transact as it). KeyStoreError when
    the front has published no public key yet."""
    code = validate.terminal_code(terminal_code)
    assert len(tmk) == validate.TMK_SIZE_BYTES, "validate.tmk_hex checks operator input"
    sealer = await TmkSealer.load(conn)
    sealed = sealer.seal(tmk, code)  # bound to this terminal: it opens in no other row
    try:
        async with conn.transaction():
            merchant = await merchant_id(conn, merchant_code)
            shop = None if shop_code is None else await shop_id_of(conn, shop_code, merchant)
            await conn.execute(
                "INSERT INTO terminals (terminal_code, merchant_id, requires_mac, tmk_encrypted,"
                " shop_id) VALUES ($1, $2, $3, $4, $5)", code, merchant, requires_mac, sealed,
                shop,
            )
            # The TMK itself never: its check value identifies it for the engineer.
            await record(conn, "terminal.create", "terminal", code, merchant_id=merchant,
                         after={"merchant_code": merchant_code, "requires_mac": requires_mac,
                                "tmk": "sealed", "tmk_check_value": key_check_value(tmk)})
            await notify_change(conn, Change(Table.TERMINALS))
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateError(f"terminal {code} already exists") from exc
    return Terminal(code, merchant_code, requires_mac, True, True, shop_code,
                    key_check_value(tmk))


async def set_terminal_active(
    conn: asyncpg.Connection, terminal_code: str, active: bool,
) -> Terminal:
    """An inactive terminal is answered 58 by the front and the host until made active."""
    code = validate.terminal_code(terminal_code)
    async with conn.transaction():
        before = await conn.fetchrow("SELECT merchant_id, active FROM terminals"
                                     " WHERE terminal_code = $1 FOR UPDATE", code)
        if before is None:
            raise NotFoundError(f"no terminal {code}; `jifen terminal list` shows them")
        await conn.execute("UPDATE terminals SET active = $2 WHERE terminal_code = $1", code,
                           active)
        await record(conn, "terminal.activate" if active else "terminal.deactivate",
                     "terminal", code, merchant_id=before["merchant_id"],
                     before={"active": before["active"]}, after={"active": active})
        await notify_change(conn, Change(Table.TERMINALS))
    return await _terminal(conn, code)


async def rotate_tmk(conn: asyncpg.Connection, terminal_code: str, tmk: bytes) -> Terminal:
    """A new TMK, sealed to the front as at creation. The terminal's session key, issued under
    the old one, is void at once (the front drops it and does not load it again): the terminal
    gets A0 until it signs on under the new TMK, which the engineer loads into it (compare the
    check value shown)."""
    code = validate.terminal_code(terminal_code)
    assert len(tmk) == validate.TMK_SIZE_BYTES, "validate.tmk_hex checks operator input"
    sealed = (await TmkSealer.load(conn)).seal(tmk, code)
    async with conn.transaction():
        merchant = await conn.fetchval(
            "UPDATE terminals SET tmk_encrypted = $2, tmk_changed_at = now()"
            " WHERE terminal_code = $1 RETURNING merchant_id", code, sealed)
        if merchant is None:
            raise NotFoundError(f"no terminal {code}; `jifen terminal list` shows them")
        await record(conn, "terminal.rotate_tmk", "terminal", code, merchant_id=merchant,
                     after={"tmk_check_value": key_check_value(tmk)})
        await notify_change(conn, Change(Table.TERMINALS))
    terminal = await _terminal(conn, code)
    return msgspec.structs.replace(terminal, tmk_check_value=key_check_value(tmk))


async def _terminal(conn: asyncpg.Connection, code: str) -> Terminal:
    row = await conn.fetchrow(f"{_SELECT} WHERE t.terminal_code = $1", code)
    assert row is not None, "the terminal just written"
    return Terminal(**dict(row))


async def set_requires_mac(
    conn: asyncpg.Connection, terminal_code: str, requires_mac: bool
) -> Terminal:
    """Flag a terminal as requiring MAC or not. The front reloads its registry: a terminal
    flagged while signed on gets A0 until its next sign-on gives it a key (MK); one unflagged
    is no longer checked, and its answers carry no MAC."""
    code = validate.terminal_code(terminal_code)
    async with conn.transaction():
        before = await conn.fetchrow(
            "SELECT merchant_id, requires_mac FROM terminals WHERE terminal_code = $1"
            " FOR UPDATE", code)
        has_tmk = await conn.fetchval(
            "UPDATE terminals SET requires_mac = $2 WHERE terminal_code = $1"
            " RETURNING tmk_encrypted IS NOT NULL", code, requires_mac,
        )
        if has_tmk is None or before is None:
            raise NotFoundError(f"no terminal {code}; `jifen terminal list` shows them")
        if requires_mac and not has_tmk:
            raise ConflictError(f"terminal {code} has no TMK: it could never receive a MAC key")
        await record(conn, "terminal.set_mac", "terminal", code,
                     merchant_id=before["merchant_id"],
                     before={"requires_mac": before["requires_mac"]},
                     after={"requires_mac": requires_mac})
        await notify_change(conn, Change(Table.TERMINALS))
    row = await conn.fetchrow(f"{_SELECT} WHERE t.terminal_code = $1", code)
    assert row is not None, "the terminal just updated"
    return Terminal(**dict(row))


async def list_terminals(
    conn: asyncpg.Connection, merchant_code: str | None = None
) -> list[Terminal]:
    if merchant_code is None:
        rows = await conn.fetch(f"{_SELECT} ORDER BY t.terminal_code")
    else:
        await merchant_id(conn, merchant_code)  # an unknown merchant is an error, not []
        rows = await conn.fetch(f"{_SELECT} WHERE m.merchant_code = $1 ORDER BY t.terminal_code",
                                merchant_code)
    return [Terminal(**dict(row)) for row in rows]
