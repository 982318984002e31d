"""The retransmission key: which requests are the same request (host interface §4, order of
checks: retransmission).

A terminal that gets no answer sends the same request again with the same field 41 (terminal),
MTI, field 11 (STAN) and field 7 (transmission time); a reversal names its original by the
same MTI, 11 and 7 in field 90. The host keys its retransmission window, its reversal
tombstones and their rows in PostgreSQL by this key; `key_sql` spells it for a query, so that
the window loaded at start is keyed exactly as the requests that look it up.

`key_digest` is the key as the switch remembers it (switch/key_memory.py): 8 bytes of BLAKE2b,
as a signed 64-bit integer; a host computes the same for the keys it sends after a switch's
restart (`KeyDigests`), so both ends must use this one function.
"""

from __future__ import annotations

from hashlib import blake2b

KEY_COLUMNS = ("terminal_code", "mti", "stan", "transmission_time")
_SEPARATOR = "|"


def retransmission_key(terminal_code: str, mti: str, stan: str, transmission_time: str) -> str:
    return f"{terminal_code}{_SEPARATOR}{mti}{_SEPARATOR}{stan}{_SEPARATOR}{transmission_time}"


# 8 bytes: a signed 64-bit integer, what an array('q') holds (switch/key_memory.py).
KEY_DIGEST_SIZE = 8


def key_digest_bytes(key: str) -> bytes:
    """The key's digest as sent in `KeyDigests` (big-endian)."""
    return blake2b(key.encode(), digest_size=KEY_DIGEST_SIZE).digest()


def key_digest(key: str) -> int:
    """The key's digest as a signed 64-bit integer (`key_digest_bytes`, big-endian)."""
    return int.from_bytes(key_digest_bytes(key), "big", signed=True)


def key_sql(table_alias: str | None = None) -> str:
    """The key as a SQL expression over KEY_COLUMNS (of `table_alias`, if given)."""
    prefix = f"{table_alias}." if table_alias else ""
    return f" || '{_SEPARATOR}' || ".join(prefix + column for column in KEY_COLUMNS)
