"""Public halves of key pairs, published in `data_key_public` (migration 010) for the processes
that seal to a purpose without being able to open it (the back office sealing TMKs).

The holder of the private key publishes it (INSERT … ON CONFLICT DO NOTHING) and then checks
that what is published is its own: a public key replaced by someone else would have the back
office seal new TMKs to a stranger. Only the front's role and the migrator may insert; nobody
may update or delete (migration 010's grants).
"""

from __future__ import annotations

from proto.keys.data_keys import DATA_KEY_VERSION, Connection, Purpose
from proto.keys.errors import KeyStoreError

_SELECT = "SELECT public_key FROM data_key_public WHERE purpose = $1 AND version = $2"
_INSERT = """
INSERT INTO data_key_public (purpose, version, public_key) VALUES ($1, $2, $3)
ON CONFLICT (purpose, version) DO NOTHING
"""


async def publish_public_key(connection: Connection, purpose: Purpose, public_key: bytes) -> None:
    await connection.execute(_INSERT, purpose.value, DATA_KEY_VERSION, public_key)
    if await read_public_key(connection, purpose) != public_key:
        raise KeyStoreError(
            f"the published {purpose} public key is not the {purpose} data key's: someone"
            " replaced it, or the data key was created anew; see docs/security.md")


async def read_public_key(connection: Connection, purpose: Purpose) -> bytes:
    published = await connection.fetchval(_SELECT, purpose.value, DATA_KEY_VERSION)
    if published is None:
        raise KeyStoreError(
            f"no {purpose} public key is published yet: run `jifen db migrate`, or start the"
            " front once")
    return bytes(published)
