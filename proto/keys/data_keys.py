"""Data keys, one per purpose, each a random AES-256 key sealed under the KEK.

They live in the table `data_keys (purpose, version, sealed)` (migration 008). A process opens
only the purposes it needs (docs/security.md, "Keys and card numbers at rest"), and row-level
security lets each service's role read only its own purposes' rows. A purpose's key is created
by the first process that needs it (or by `jifen db migrate`): INSERT … ON CONFLICT DO NOTHING
then read again, so concurrent first starts agree on one key.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from proto.keys.errors import KeyStoreError
from proto.keys.sealing import open_sealed, seal

DATA_KEY_SIZE_BYTES = 32
DATA_KEY_VERSION = 1


class Purpose(enum.StrEnum):
    TMK = "tmk"                  # terminals' TMKs and MAC session keys (the front)
    PAN_LOOKUP = "pan_lookup"    # HMAC-SHA256 of a PAN: cards.pan_hmac (host, back office)
    PAN_SEAL = "pan_seal"        # the sealed PAN: cards.pan_sealed (back office)
    SAF_SEAL = "saf_seal"        # the front's stored 0420s: front_saf.request (the front)
    MEMBER_DATA = "member_data"  # members' personal data (the next issue)
    # Card passwords' verification values (proto.card_password): the front, which turns field
    # 52 into one, and the back office, which sets them (docs/security.md).
    PIN_VERIFICATION = "pin_verification"


def data_key_associated_data(purpose: Purpose, version: int) -> bytes:
    return f"jifen/data-key/v1/{purpose.value}/{version}".encode()


Connection = asyncpg.Connection | PoolConnectionProxy

_SELECT = "SELECT purpose, sealed FROM data_keys WHERE version = $1 AND purpose = ANY($2)"
_INSERT = """
INSERT INTO data_keys (purpose, version, sealed) VALUES ($1, $2, $3)
ON CONFLICT (purpose, version) DO NOTHING
"""


async def open_data_keys(
    connection: Connection, kek: bytes, purposes: Iterable[Purpose], *,
    create: bool = True,
) -> dict[Purpose, bytes]:
    """The clear keys of `purposes`; missing ones are created first unless `create` is False
    (then a missing key is a KeyStoreError)."""
    wanted = sorted(set(purposes))
    keys = await _read(connection, kek, wanted)
    missing = [purpose for purpose in wanted if purpose not in keys]
    if missing and not create:
        raise KeyStoreError(f"no data key for {', '.join(missing)}: run `jifen db migrate`")
    if missing:
        for purpose in missing:
            sealed = seal(kek, secrets.token_bytes(DATA_KEY_SIZE_BYTES),
                          data_key_associated_data(purpose, DATA_KEY_VERSION))
            await connection.execute(_INSERT, purpose.value, DATA_KEY_VERSION, sealed)
        keys = await _read(connection, kek, wanted)
    assert set(keys) == set(wanted), "every purpose asked for has its key"
    return keys


async def _read(
    connection: Connection, kek: bytes, purposes: list[Purpose],
) -> dict[Purpose, bytes]:
    rows = await connection.fetch(_SELECT, DATA_KEY_VERSION, [p.value for p in purposes])
    keys = {}
    for row in rows:
        purpose = Purpose(row["purpose"])
        key = open_sealed(kek, row["sealed"], data_key_associated_data(purpose, DATA_KEY_VERSION))
        if len(key) != DATA_KEY_SIZE_BYTES:
            raise KeyStoreError(f"the {purpose} data key has a wrong size")
        keys[purpose] = key
    return keys
