"""Tests' view of card numbers at rest: the clear PANs of a database's cards, opened with the
data keys (as only the back office could), for tests that must know them."""

from __future__ import annotations

import asyncpg

from proto.keys import Purpose, load_kek, open_data_keys, open_pan


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
