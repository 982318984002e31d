"""Keyset pagination: a page ends with the key of its last row, and the next page starts
strictly after it, so every row is listed once even while the host writes (new rows are newer
than the first page and never shift the pages after it). The cursor is that key, opaque to
the operator: base64url of msgpack, decoded into its typed struct or refused."""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import TypeVar

import msgspec

from back_office.queries.errors import InvalidQueryError

# A cursor is a few dozen bytes; anything much longer is not one of ours.
CURSOR_LENGTH_MAX = 200


class TransactionKey(msgspec.Struct, frozen=True, array_like=True, tag="t"):
    business_date: date
    transaction_id: int


class PostedKey(msgspec.Struct, frozen=True, array_like=True, tag="p"):
    posted_at: datetime
    transaction_id: int


class DeclineKey(msgspec.Struct, frozen=True, array_like=True, tag="d"):
    received_at: datetime
    terminal_code: str
    mti: str
    stan: str
    transmission_time: str


Key = TypeVar("Key", TransactionKey, PostedKey, DeclineKey)


def encode_cursor(key: TransactionKey | PostedKey | DeclineKey) -> str:
    return base64.urlsafe_b64encode(msgspec.msgpack.encode(key)).decode().rstrip("=")


def decode_cursor(text: str, kind: type[Key]) -> Key:
    if len(text) > CURSOR_LENGTH_MAX:
        raise InvalidQueryError("the cursor is too long: pass the one a page printed")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return msgspec.msgpack.decode(raw, type=kind)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise InvalidQueryError(
            "the cursor is not one this query printed (each of `txn find`'s listings has "
            "its own: transactions by business date, by time, declined requests)") from exc
