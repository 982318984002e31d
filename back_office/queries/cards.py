"""A card named by its number: found by the keyed hash of the PAN (cards.pan_hmac, under the
pan_lookup data key), never by the number itself, which is not stored. Only the mask (first 6,
last 4) leaves this module."""

from __future__ import annotations

import asyncpg
import msgspec

from back_office.queries.errors import InvalidQueryError, NotFoundError
from proto.keys import Purpose, open_data_keys, pan_hmac
from proto.pan import mask_pan

PAN_LENGTH_MIN = 12
PAN_LENGTH_MAX = 19   # ISO field 2: LLVAR of at most 19 digits


class CardRef(msgspec.Struct, frozen=True):
    card_id: int
    pan_masked: str
    alliance_id: int
    status: str


def check_pan(pan: str) -> None:
    if not (pan.isdigit() and PAN_LENGTH_MIN <= len(pan) <= PAN_LENGTH_MAX):
        raise InvalidQueryError(
            f"a card number is {PAN_LENGTH_MIN}-{PAN_LENGTH_MAX} digits ({mask_pan(pan)})")


async def open_pan_lookup_key(connection: asyncpg.Connection, kek: bytes) -> bytes:
    """The pan_lookup data key, opened with the KEK. The back office's role reads it (its
    row-level security policy on data_keys); the audit role does not. Never created here."""
    keys = await open_data_keys(connection, kek, [Purpose.PAN_LOOKUP], create=False)
    return keys[Purpose.PAN_LOOKUP]


def pan_lookup_hash(lookup_key: bytes, pan: str) -> bytes:
    check_pan(pan)
    return pan_hmac(lookup_key, pan)


async def find_card(connection: asyncpg.Connection, pan_hash: bytes, pan: str) -> CardRef:
    """The card of `pan_hash` (`pan` only names it, masked, in the error)."""
    row = await connection.fetchrow(
        "SELECT id, pan_masked, alliance_id, status FROM cards WHERE pan_hmac = $1", pan_hash)
    if row is None:
        raise NotFoundError(f"no card {mask_pan(pan)} is issued")
    return CardRef(row["id"], row["pan_masked"], row["alliance_id"], row["status"])
