"""Tests' view of card numbers at rest: the clear PANs of a database's cards, opened with the
data keys (as only the back office could), for tests that must know them."""

from __future__ import annotations

from datetime import date

import asyncpg

from acquirer_front.keystore import KeyStore
from back_office.provisioning.cards import insert_known_cards
from proto.keys import (
    KeyStoreError,
    Purpose,
    load_kek,
    open_data_keys,
    open_pan,
    pan_hmac,
    seal_pan,
)
from proto.pan import mask_pan


async def card_pans(database_url: str, kek: bytes | None = None) -> dict[int, str]:
    """card id -> PAN, in id order."""
    connection = await asyncpg.connect(database_url)
    try:
        keys = await open_data_keys(connection, kek or load_kek(), [Purpose.PAN_SEAL],
                                    create=False)
        rows = await connection.fetch("SELECT id, pan_hmac, pan_sealed FROM cards ORDER BY id")
    finally:
        await connection.close()
    seal_key = keys[Purpose.PAN_SEAL]
    return {row["id"]: open_pan(seal_key, row["pan_sealed"], row["pan_hmac"]) for row in rows}


async def sealed_columns(
    connection: asyncpg.Connection, pans: list[str], kek: bytes | None = None,
) -> list[tuple[bytes, bytes, str]]:
    """(pan_hmac, pan_sealed, pan_masked) of each PAN, as the back office writes them."""
    keys = await open_data_keys(connection, kek or load_kek(),
                                [Purpose.PAN_LOOKUP, Purpose.PAN_SEAL])
    columns = []
    for pan in pans:
        digest = pan_hmac(keys[Purpose.PAN_LOOKUP], pan)
        columns.append((digest, seal_pan(keys[Purpose.PAN_SEAL], pan, digest), mask_pan(pan)))
    return columns


INSERT_CARD_COLUMNS = "pan_hmac, pan_sealed, pan_masked"


async def lookup_hash(connection: asyncpg.Connection, pan: str) -> bytes:
    """cards.pan_hmac of `pan`: how a test finds a card's row."""
    [(digest, _, _)] = await sealed_columns(connection, [pan])
    return digest



async def insert_cards(
    connection: asyncpg.Connection, pans: list[str], alliance_id: int, expires_on: date,
    *, status: str = "active", kek: bytes | None = None,
) -> list[int]:
    """Insert cards as the back office issues them (HMAC, sealed PAN, mask): the ids, in the
    order of `pans` (ids are taken in that order, so a fresh table numbers them 1, 2, ...)."""
    return await insert_known_cards(connection, pans, alliance_id, expires_on,
                                    kek=kek or load_kek(), status=status)


async def front_key_pair(connection: asyncpg.Connection, kek: bytes | None = None) -> KeyStore:
    """The front's key store under `kek` (default the tests' KEK, under which the template's
    key pair is). For a test whose front runs under a KEK of its own, that KEK's key pair
    replaces the template's (as a new installation would have made it), and so does its PIN
    verification key."""
    kek = kek or load_kek()
    try:
        return await KeyStore.open_with(connection, kek)
    except KeyStoreError:
        await connection.execute("DELETE FROM data_key_public WHERE purpose = 'tmk'")
        await connection.execute(
            "DELETE FROM data_keys WHERE purpose IN ('tmk', 'pin_verification')")
        return await KeyStore.open_with(connection, kek)


async def front_keystore(database_url: str, kek: bytes | None = None) -> KeyStore:
    """`front_key_pair` on a database of its own connection."""
    connection = await asyncpg.connect(database_url)
    try:
        return await front_key_pair(connection, kek)
    finally:
        await connection.close()


async def give_cards_a_member(connection: asyncpg.Connection, pans: list[str]) -> int:
    """A member (of the first card's alliance) made in SQL, holding the cards of `pans`; its id.
    Its mobile is a placeholder: tests that use this never read it."""
    alliance = await connection.fetchval("SELECT alliance_id FROM cards LIMIT 1")
    member = await connection.fetchval(
        "INSERT INTO members (alliance_id, name, mobile_hmac, mobile_sealed,"
        " mobile_masked, joined_on) VALUES ($1, 'm', decode(repeat('01', 32), 'hex'),"
        " '\\x01', '138****5678', current_date) RETURNING id", alliance)
    await connection.execute(
        "UPDATE cards SET member_id = $1 WHERE pan_masked = ANY($2::text[])", member,
        [pan[:6] + "******" + pan[-4:] for pan in pans])
    return int(member)
