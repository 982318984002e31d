"""Data steps of migrations: what SQL cannot do because it needs keys the database must not have.

`database.migrate.migrate(url, data_steps=data_steps(kek))` runs a step right after its
migration's SQL, in the same transaction (all or nothing). `jifen db migrate` and `jifen up`
pass them; a migrator without them (a test's template, a scratch database) can still migrate an
empty database, and a database with rows to convert refuses it (the SQL checks).

008_keys_and_pans_at_rest: creates every purpose's data key; replaces each card's clear PAN by
its HMAC (pan_lookup), its sealed form (pan_seal) and its mask, then drops the `pan` column
(and with it its CHECK and UNIQUE); seals each stored 0420 of front_saf (saf_seal).

009_terminal_keys_bound: opens each TMK and MAC session key sealed with the purpose alone
(layout version 1) and seals it again bound to its terminal (version 2). A TMK that does not
open under this KEK stops the migration; a session key that does not open is dropped (the front
skipped it already: that terminal signs on again).

010_terminal_keys_sealed_to_front: opens the `tmk` data key (creating it on a new database) as
the front's key pair, publishes its public key, and seals each version 2 TMK and session key
again to it (version 3), with the same rules for keys that do not open.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from acquirer_front.keystore import (
    KEK_BOUND_VERSION,
    SESSION_KEY_PURPOSE,
    TMK_PURPOSE,
    UNBOUND_VERSION,
    KeyStore,
    open_unbound_key,
    open_under_kek,
    seal_under_kek,
)
from acquirer_front.saf.entries import saf_associated_data
from database.connect import connect
from database.errors import MigrationError
from database.migrate import CONNECT_TIMEOUT_S, DataStep
from proto.keys import Purpose, open_data_keys, pan_hmac, seal, seal_pan
from proto.keys.errors import KeyStoreError
from proto.pan import mask_pan

PANS_AT_REST = "008_keys_and_pans_at_rest"
TERMINAL_KEYS_BOUND = "009_terminal_keys_bound"
TERMINAL_KEYS_SEALED_TO_FRONT = "010_terminal_keys_sealed_to_front"
# Rows converted per statement: bounds one UPDATE's arrays (10^6 cards take 20 statements).
CONVERT_CHUNK_ROWS = 50_000


def data_steps(kek: bytes) -> dict[str, DataStep]:
    async def pans_at_rest(connection: asyncpg.Connection) -> None:
        await convert_pans_at_rest(connection, kek)

    async def terminal_keys_bound(connection: asyncpg.Connection) -> None:
        await bind_terminal_keys(connection, kek)

    async def terminal_keys_sealed_to_front(connection: asyncpg.Connection) -> None:
        await seal_terminal_keys_to_front(connection, kek)

    return {PANS_AT_REST: pans_at_rest, TERMINAL_KEYS_BOUND: terminal_keys_bound,
            TERMINAL_KEYS_SEALED_TO_FRONT: terminal_keys_sealed_to_front}


async def publish_front_key(
    database_url: str, kek: bytes, connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> None:
    """After every migration run (`jifen db migrate`, `jifen up`): the front's key pair exists
    and its public key is published, also on a database migrated without the KEK."""
    connection = await connect(database_url, connect_timeout_s)
    try:
        await KeyStore.open_with(connection, kek)
    finally:
        await connection.close()


# The purposes migration 008's table allows: a later purpose (pin_verification, 012) is created
# by whoever needs it after its own migration, never by an older migration's step.
_PURPOSES_OF_008 = (Purpose.TMK, Purpose.PAN_LOOKUP, Purpose.PAN_SEAL, Purpose.SAF_SEAL,
                    Purpose.MEMBER_DATA)


async def convert_pans_at_rest(connection: asyncpg.Connection, kek: bytes) -> None:
    keys = await open_data_keys(connection, kek, _PURPOSES_OF_008)
    has_pan = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = 'cards'"
        " AND column_name = 'pan')")
    if has_pan:
        await _convert_cards(connection, keys[Purpose.PAN_LOOKUP], keys[Purpose.PAN_SEAL])
    await _seal_saf(connection, keys[Purpose.SAF_SEAL])


async def _convert_cards(connection: asyncpg.Connection, lookup: bytes, seal_key: bytes) -> None:
    above_id = 0
    while rows := await connection.fetch(
            "SELECT id, pan FROM cards WHERE id > $1 ORDER BY id LIMIT $2",
            above_id, CONVERT_CHUNK_ROWS):
        hashes = [pan_hmac(lookup, row["pan"]) for row in rows]
        await connection.execute(
            "UPDATE cards c SET pan_hmac = u.h, pan_sealed = u.s, pan_masked = u.m"
            " FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::text[]) AS u (id, h, s, m)"
            " WHERE c.id = u.id",
            [row["id"] for row in rows], hashes,
            [seal_pan(seal_key, row["pan"], digest) for row, digest in zip(rows, hashes,
                                                                           strict=True)],
            [mask_pan(row["pan"]) for row in rows])
        above_id = rows[-1]["id"]
    await connection.execute(
        "ALTER TABLE cards DROP COLUMN pan, ALTER COLUMN pan_hmac SET NOT NULL,"
        " ALTER COLUMN pan_sealed SET NOT NULL, ALTER COLUMN pan_masked SET NOT NULL")


async def _seal_saf(connection: asyncpg.Connection, seal_key: bytes) -> None:
    rows = await connection.fetch("SELECT id, terminal_code, original_data, request"
                                  " FROM front_saf")
    if rows:
        await connection.execute(
            "UPDATE front_saf f SET request = u.r"
            " FROM unnest($1::bigint[], $2::bytea[]) AS u (id, r) WHERE f.id = u.id",
            [row["id"] for row in rows],
            [seal(seal_key, row["request"],
                  saf_associated_data(row["terminal_code"], row["original_data"]))
             for row in rows])


async def bind_terminal_keys(connection: asyncpg.Connection, kek: bytes) -> None:
    """Re-seal every version 1 TMK and session key bound to its terminal (version 2)."""
    await _reseal_terminal_keys(
        connection, TERMINAL_KEYS_BOUND, UNBOUND_VERSION,
        lambda sealed, _code, purpose: open_unbound_key(kek, sealed, purpose),
        lambda key, code, purpose: seal_under_kek(kek, key, code, purpose))


async def seal_terminal_keys_to_front(connection: asyncpg.Connection, kek: bytes) -> None:
    """Publish the front's public key; re-seal every version 2 key to it (version 3)."""
    store = await KeyStore.open_with(connection, kek, pin_verification=False)
    await _reseal_terminal_keys(
        connection, TERMINAL_KEYS_SEALED_TO_FRONT, KEK_BOUND_VERSION,
        lambda sealed, code, purpose: open_under_kek(kek, sealed, code, purpose), store.seal)


_Open = Callable[[bytes, str, bytes], bytes]
_Seal = Callable[[bytes, str, bytes], bytes]


async def _reseal_terminal_keys(
    connection: asyncpg.Connection, migration: str, from_version: int,
    open_old: _Open, seal_new: _Seal,
) -> None:
    """Every TMK and session key of layout `from_version`, opened and sealed anew. A TMK that
    does not open stops the migration; a session key that does not open is dropped (the front
    skipped it already: that terminal signs on again)."""
    terminals = await connection.fetch(
        "SELECT terminal_code, tmk_encrypted FROM terminals"
        " WHERE tmk_encrypted IS NOT NULL AND get_byte(tmk_encrypted, 0) = $1"
        " ORDER BY terminal_code", from_version)
    sealed_tmks: list[bytes] = []
    for row in terminals:
        try:
            tmk = open_old(row["tmk_encrypted"], row["terminal_code"], TMK_PURPOSE)
        except KeyStoreError as exc:
            raise MigrationError(
                f"migration {migration}: the TMK of terminal {row['terminal_code']}"
                f" does not open under this KEK ({exc})") from exc
        sealed_tmks.append(seal_new(tmk, row["terminal_code"], TMK_PURPOSE))
    if terminals:
        await connection.execute(
            "UPDATE terminals t SET tmk_encrypted = u.s"
            " FROM unnest($1::text[], $2::bytea[]) AS u (code, s) WHERE t.terminal_code = u.code",
            [row["terminal_code"] for row in terminals], sealed_tmks)
    sessions = await connection.fetch(
        "SELECT terminal_code, session_key_encrypted FROM terminal_sessions"
        " WHERE session_key_encrypted IS NOT NULL AND get_byte(session_key_encrypted, 0) = $1"
        " ORDER BY terminal_code", from_version)
    codes: list[str] = []
    sealed_keys: list[bytes | None] = []
    for row in sessions:
        try:
            key = open_old(row["session_key_encrypted"], row["terminal_code"],
                           SESSION_KEY_PURPOSE)
        except KeyStoreError:
            sealed = None  # the front could not load it either: the terminal signs on again
        else:
            sealed = seal_new(key, row["terminal_code"], SESSION_KEY_PURPOSE)
        codes.append(row["terminal_code"])
        sealed_keys.append(sealed)
    if sessions:
        await connection.execute(
            "UPDATE terminal_sessions ts SET session_key_encrypted = u.s"
            " FROM unnest($1::text[], $2::bytea[]) AS u (code, s) WHERE ts.terminal_code = u.code",
            codes, sealed_keys)
