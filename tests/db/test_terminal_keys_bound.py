"""Migrations 009 and 010 and their data steps: TMKs and session keys sealed under the KEK with
the purpose alone (version 1) are sealed again bound to their terminal (version 2, 009), and
then to the front's key pair (version 3, 010), which the back office cannot open."""

from __future__ import annotations

import shutil

import asyncpg
import pytest

from acquirer_front.keystore import (
    SESSION_KEY_PURPOSE,
    TMK_PURPOSE,
    KeyStore,
    KeyStoreError,
    seal_under_kek,
)
from back_office.data_migrations import data_steps
from database import migrate
from database.errors import MigrationError
from proto.keys.sealing import seal
from tests.conftest import REPO_DIR

pytestmark = pytest.mark.anyio

KEK = bytes(range(32))
TMK = bytes.fromhex("C1D0F8FB4958670DBA40AB1F3752EF0D")
SESSION_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
CODES = ["TERMOLD1", "TERMOLD2"]


async def migrate_to_008(url: str, tmp_path) -> None:
    await migrate_to(url, tmp_path, "008")


async def migrate_to(url: str, tmp_path, last: str) -> None:
    """The migrations up to `last` (a number, e.g. "009") only, as an older release had them."""
    old = tmp_path / f"old-{last}"
    old.mkdir()
    for path in sorted((REPO_DIR / "migrations").glob("*.sql")):
        if path.name[:3] <= last:
            shutil.copy(path, old / path.name)
    await migrate(url, old)


async def add_old_keys(
    url: str, kek: bytes, merchant: str = "MERCHANTOLD0001", bound: bool = False,
) -> None:
    """CODES with their TMK, and CODES[0] signed on with a session key, all sealed as before
    migration 009 (AES-GCM under `kek` bound to the purpose only, version 1) or, `bound`, as
    before 010 (bound to the terminal too, version 2)."""
    def sealed(key: bytes, code: str, purpose: bytes) -> bytes:
        return seal_under_kek(kek, key, code, purpose) if bound else seal(kek, key, purpose)

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO alliances (code, name, timezone, cutover_local_time,"
            " exchange_points_per_yuan) VALUES ('OLD', 'Old', 'UTC', '23:00', 100)")
        await connection.execute(
            "INSERT INTO merchants (merchant_code, alliance_id, name, earn_points_per_yuan)"
            " VALUES ($1, (SELECT id FROM alliances WHERE code = 'OLD'), 'Old shop', 1)",
            merchant)
        for code in CODES:
            await connection.execute(
                "INSERT INTO terminals (terminal_code, merchant_id, requires_mac, tmk_encrypted)"
                " SELECT $1, id, true, $2 FROM merchants WHERE merchant_code = $3",
                code, sealed(TMK, code, TMK_PURPOSE), merchant)
        await connection.execute(
            "INSERT INTO terminal_sessions (terminal_code, signed_on, session_key_encrypted)"
            " VALUES ($1, true, $2)", CODES[0], sealed(SESSION_KEY, CODES[0], SESSION_KEY_PURPOSE))
    finally:
        await connection.close()


@pytest.mark.parametrize("from_version", ["008", "009"])
async def test_old_keys_are_sealed_again_to_the_front_bound_to_their_terminal(
    empty_database_url, tmp_path, from_version,
) -> None:
    await migrate_to(empty_database_url, tmp_path, from_version)
    await add_old_keys(empty_database_url, KEK, bound=from_version == "009")
    applied = await migrate(empty_database_url, data_steps=data_steps(KEK))
    assert applied == ["009_terminal_keys_bound", "010_terminal_keys_sealed_to_front",
                       "013_query_indexes"][int(from_version) - 8:]
    connection = await asyncpg.connect(empty_database_url)
    try:
        tmks = dict(await connection.fetch(
            "SELECT terminal_code, tmk_encrypted FROM terminals ORDER BY terminal_code"))
        session = await connection.fetchval(
            "SELECT session_key_encrypted FROM terminal_sessions WHERE terminal_code = $1",
            CODES[0])
        front = await KeyStore.open_with(connection, KEK)  # as the front opens it at start
    finally:
        await connection.close()
    for code in CODES:
        assert tmks[code][0] == 3 and front.open(tmks[code], code) == TMK
    assert front.open(session, CODES[0], SESSION_KEY_PURPOSE) == SESSION_KEY
    with pytest.raises(KeyStoreError):  # bound: one terminal's TMK opens for no other
        front.open(tmks[CODES[0]], CODES[1])
    with pytest.raises(KeyStoreError):
        front.open(session, CODES[1], SESSION_KEY_PURPOSE)


async def test_old_keys_refuse_a_migrator_without_the_kek(empty_database_url, tmp_path) -> None:
    await migrate_to_008(empty_database_url, tmp_path)
    await add_old_keys(empty_database_url, KEK)
    with pytest.raises(MigrationError, match="re-seal existing TMKs"):
        await migrate(empty_database_url)


async def test_a_tmk_under_another_kek_stops_the_migration(
    empty_database_url, tmp_path,
) -> None:
    await migrate_to_008(empty_database_url, tmp_path)
    await add_old_keys(empty_database_url, bytes(32))
    with pytest.raises(MigrationError, match="TMK of terminal TERMOLD1 does not open"):
        await migrate(empty_database_url, data_steps=data_steps(KEK))
    connection = await asyncpg.connect(empty_database_url)
    try:  # all or nothing: 009 is not recorded and the keys are as they were
        assert await connection.fetchval(
            "SELECT count(*) FROM schema_migrations WHERE version = '009_terminal_keys_bound'"
        ) == 0
        assert await connection.fetchval(
            "SELECT count(*) FROM terminals WHERE get_byte(tmk_encrypted, 0) = 1") == 2
    finally:
        await connection.close()


async def test_keys_under_the_kek_refuse_a_migrator_without_it(
    empty_database_url, tmp_path,
) -> None:
    await migrate_to(empty_database_url, tmp_path, "009")
    await add_old_keys(empty_database_url, KEK, bound=True)
    with pytest.raises(MigrationError, match="re-seal existing TMKs and session keys to the"):
        await migrate(empty_database_url)
    with pytest.raises(MigrationError, match="TMK of terminal TERMOLD1 does not open"):
        await migrate(empty_database_url, data_steps=data_steps(bytes(32)))
    connection = await asyncpg.connect(empty_database_url)
    try:  # all or nothing: 010 is not recorded, no key pair, and the keys are as they were
        assert await connection.fetchval(
            "SELECT count(*) FROM schema_migrations"
            " WHERE version = '010_terminal_keys_sealed_to_front'") == 0
        assert await connection.fetchval("SELECT count(*) FROM data_keys") == 0
        assert await connection.fetchval(
            "SELECT count(*) FROM terminals WHERE get_byte(tmk_encrypted, 0) = 2") == 2
    finally:
        await connection.close()
