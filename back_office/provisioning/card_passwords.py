"""Card passwords at the back office (host interface 1.2, §4 "Card password").

The password is kept only as its verification value (proto.card_password), computed here
under the `pin_verification` data key, which row-level security lets the back office and the
front read, never the host (docs/security.md, "Card passwords"). Setting one bumps the card's
password_version, so the host's count of wrong tries (card_password_tries, its own rows)
starts afresh: a reset is also how a locked password (75) is unlocked. The host hears of the
change through NOTIFY 'cards:<id>' and re-reads that card, as for a status change.

An operator's reset is a request a second operator approves (maker-checker): the maker's
`prepare_password_reset` checks everything and computes the new verification value, which
the request keeps (never the password); the approval's `apply_password_reset` writes it.
Every change writes its audit row, with the password's version, never the password.
"""

from __future__ import annotations

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning.errors import ConflictError, InvalidValueError, NotFoundError
from back_office.provisioning.notify import notify_change
from proto.card_password import PASSWORD_TRIES_MAX, verification_value
from proto.changes import Change, Table
from proto.keys import Purpose, load_kek, open_data_keys, pan_hmac
from proto.pan import mask_pan
from proto.pin_block import PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN, is_valid_password

_SELECT_CARD = """
SELECT c.id, c.pan_masked, c.password_verification IS NOT NULL AS has_password,
       c.password_version,
       coalesce(t.tries, 0) AS tries
FROM cards c
LEFT JOIN card_password_tries t
       ON t.card_id = c.id AND t.password_version = c.password_version
WHERE c.pan_hmac = $1
"""
_UPDATE = """
UPDATE cards SET password_verification = $2, password_version = password_version + 1
WHERE id = $1 RETURNING password_version
"""


class CardPassword(msgspec.Struct, frozen=True):
    """A card's password as an operator may see it: whether there is one, and its lock."""

    card_id: int
    pan_masked: str
    has_password: bool
    wrong_tries: int
    locked: bool


class PreparedReset(msgspec.Struct, frozen=True):
    """What a reset request keeps: the card and the new password's verification value."""

    card_id: int
    pan_masked: str
    verification_hex: str

    def __repr__(self) -> str:
        return f"PreparedReset({self.pan_masked})"


class CardPasswordChange(msgspec.Struct, frozen=True):
    card_id: int
    pan_masked: str
    action: str              # "set" or "reset"
    was_locked: bool
    password_version: int


async def show_card_password(
    conn: asyncpg.Connection, pan: str, *, kek: bytes | None = None,
) -> CardPassword:
    _check_pan(pan)
    keys = await open_data_keys(conn, kek if kek is not None else load_kek(),
                                [Purpose.PAN_LOOKUP])
    row = await _card(conn, keys[Purpose.PAN_LOOKUP], pan, lock=False)
    return CardPassword(row["id"], mask_pan(pan), row["has_password"], row["tries"],
                        row["tries"] >= PASSWORD_TRIES_MAX)


async def set_card_password(
    conn: asyncpg.Connection, pan: str, password: str, *, kek: bytes | None = None,
) -> CardPasswordChange:
    """A first password for a card that has none (ConflictError otherwise: reset it)."""
    return await _store(conn, pan, password, kek, reset=False)


async def reset_card_password(
    conn: asyncpg.Connection, pan: str, password: str, *, kek: bytes | None = None,
) -> CardPasswordChange:
    """A new password for a card that has one, its wrong tries cleared (unlocked)."""
    return await _store(conn, pan, password, kek, reset=True)


async def prepare_password_reset(
    conn: asyncpg.Connection, pan: str, password: str, *, kek: bytes | None = None,
) -> PreparedReset:
    """The checks of a reset, and its verification value, for a request (nothing written)."""
    _check_pan(pan)
    _check_password(password)
    keys = await open_data_keys(conn, kek if kek is not None else load_kek(),
                                [Purpose.PAN_LOOKUP, Purpose.PIN_VERIFICATION])
    row = await _card(conn, keys[Purpose.PAN_LOOKUP], pan, lock=False)
    if not row["has_password"]:
        raise ConflictError(f"card {mask_pan(pan)} has no password: set one instead")
    value = verification_value(keys[Purpose.PIN_VERIFICATION], pan, password)
    return PreparedReset(row["id"], mask_pan(pan), value.hex())


async def apply_password_reset(
    conn: asyncpg.Connection, card_id: int, verification: bytes,
) -> CardPasswordChange:
    """A prepared reset, approved: the new value written, the wrong tries cleared."""
    async with conn.transaction():
        row = await conn.fetchrow(
            _SELECT_CARD.replace("WHERE c.pan_hmac = $1", "WHERE c.id = $1")
            + " FOR UPDATE OF c", card_id)
        if row is None:
            raise NotFoundError(f"no card with id {card_id}")
        if not row["has_password"]:
            raise ConflictError(f"card {row['pan_masked']} has no password any more")
        return await _write(conn, row, verification, reset=True)


async def _store(
    conn: asyncpg.Connection, pan: str, password: str, kek: bytes | None, *, reset: bool,
) -> CardPasswordChange:
    _check_pan(pan)
    _check_password(password)
    async with conn.transaction():
        keys = await open_data_keys(conn, kek if kek is not None else load_kek(),
                                    [Purpose.PAN_LOOKUP, Purpose.PIN_VERIFICATION])
        row = await _card(conn, keys[Purpose.PAN_LOOKUP], pan, lock=True)
        if reset and not row["has_password"]:
            raise ConflictError(f"card {mask_pan(pan)} has no password: set one instead")
        if not reset and row["has_password"]:
            raise ConflictError(f"card {mask_pan(pan)} has a password already: reset it")
        value = verification_value(keys[Purpose.PIN_VERIFICATION], pan, password)
        return await _write(conn, row, value, reset=reset)


async def _write(
    conn: asyncpg.Connection, row: asyncpg.Record, value: bytes, *, reset: bool,
) -> CardPasswordChange:
    version = await conn.fetchval(_UPDATE, row["id"], value)
    locked = row["tries"] >= PASSWORD_TRIES_MAX
    await record(conn, "card.password_reset" if reset else "card.password_set", "card",
                 row["pan_masked"], before={"password_version": row["password_version"],
                                            "locked": locked},
                 after={"password_version": version, "locked": False})
    await notify_change(conn, Change(Table.CARDS, row["id"]))
    return CardPasswordChange(row["id"], row["pan_masked"], "reset" if reset else "set",
                              locked, version)


def _check_password(password: str) -> None:
    if not is_valid_password(password):
        raise InvalidValueError(
            f"a card password is {PASSWORD_LENGTH_MIN}-{PASSWORD_LENGTH_MAX} digits")


async def _card(
    conn: asyncpg.Connection, lookup_key: bytes, pan: str, *, lock: bool,
) -> asyncpg.Record:
    sql = _SELECT_CARD + (" FOR UPDATE OF c" if lock else "")
    row = await conn.fetchrow(sql, pan_hmac(lookup_key, pan))
    if row is None:
        raise NotFoundError(f"no card {mask_pan(pan)} is issued")
    return row


def _check_pan(pan: str) -> None:
    if not (pan.isascii() and pan.isdigit()):
        raise InvalidValueError("the card number must be digits only")
