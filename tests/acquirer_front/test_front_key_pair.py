"""The front's key pair on a real database: created once under the KEK, its public key
published for the back office, and refused when the KEK or the published key is not its own."""

from __future__ import annotations

import asyncpg
import pytest

from acquirer_front.config import FrontConfig
from acquirer_front.keystore import KeyStore, KeyStoreError, TmkSealer
from proto.keys.sealed_box import public_key_of

pytestmark = pytest.mark.anyio

KEK = bytes(range(32))
TMK = bytes.fromhex("C1D0F8FB4958670DBA40AB1F3752EF0D")
CODE = "TERMPAIR"


@pytest.fixture
async def connection(empty_database_url: str):
    from database import migrate

    await migrate(empty_database_url)  # as a migrator without the KEK: no key pair yet
    connection = await asyncpg.connect(empty_database_url)
    try:
        yield connection
    finally:
        await connection.close()


async def test_the_back_office_seals_what_only_the_front_opens(connection) -> None:
    with pytest.raises(KeyStoreError, match="no tmk public key is published yet"):
        await TmkSealer.load(connection)
    front = await KeyStore.open_with(connection, KEK)  # the front's first start
    sealed = (await TmkSealer.load(connection)).seal(TMK, CODE)
    assert (await KeyStore.open_with(connection, KEK)).open(sealed, CODE) == TMK  # a restart
    assert front.open(sealed, CODE) == TMK
    assert await connection.fetchval("SELECT count(*) FROM data_keys WHERE purpose = 'tmk'") == 1


async def test_another_kek_does_not_open_the_key_pair(connection) -> None:
    await KeyStore.open_with(connection, KEK)
    with pytest.raises(KeyStoreError, match="does not open"):
        await KeyStore.open_with(connection, bytes(32))


async def test_a_replaced_public_key_stops_the_front(connection) -> None:
    """Someone with the owner's rights publishes a key of their own: new TMKs would be sealed
    to them. The front refuses to start rather than go on under a key pair not its own."""
    await KeyStore.open_with(connection, KEK)
    await connection.execute("UPDATE data_key_public SET public_key = $1",
                             public_key_of(bytes(range(1, 33))))
    with pytest.raises(KeyStoreError, match="someone replaced it"):
        await KeyStore.open_with(connection, KEK)


async def test_the_kek_comes_from_the_variable_named_in_config(
    connection, monkeypatch, tmp_path,
) -> None:
    monkeypatch.setenv("MY_KEK", KEK.hex())
    config = FrontConfig(kek_env="MY_KEK", kek_file=str(tmp_path / "absent.hex"))
    store = await KeyStore.from_config(config, connection)
    assert (await KeyStore.open_with(connection, KEK)).open(store.seal(TMK, CODE), CODE) == TMK
    assert not (tmp_path / "absent.hex").exists()
