"""Migration 009 and its data step: TMKs and session keys sealed with the purpose alone
(version 1) are sealed again bound to their terminal (version 2)."""

from __future__ import annotations

import shutil

import asyncpg
import pytest

from acquirer_front.keystore import SESSION_KEY_PURPOSE, TMK_PURPOSE, KeyStoreError, open_key
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
    old = tmp_path / "old"
    old.mkdir()
    for path in sorted((REPO_DIR / "migrations").glob("00[1-8]_*.sql")):
        shutil.copy(path, old / path.name)
    await migrate(url, old)


async def add_old_keys(url: str, kek: bytes, merchant: str = "MERCHANTOLD0001") -> None:
    """CODES with their TMK, and CODES[0] signed on with a session key, all sealed as before
    migration 009: AES-GCM under `kek` bound to the purpose only (version 1)."""
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
                code, seal(kek, TMK, TMK_PURPOSE), merchant)
        await connection.execute(
            "INSERT INTO terminal_sessions (terminal_code, signed_on, session_key_encrypted)"
            " VALUES ($1, true, $2)", CODES[0], seal(kek, SESSION_KEY, SESSION_KEY_PURPOSE))
    finally:
        await connection.close()


async def test_old_keys_are_sealed_again_bound_to_their_terminal(
    empty_database_url, tmp_path,
) -> None:
    await migrate_to_008(empty_database_url, tmp_path)
    await add_old_keys(empty_database_url, KEK)
    assert await migrate(empty_database_url, data_steps=data_steps(KEK)) == \
        ["009_terminal_keys_bound"]
    connection = await asyncpg.connect(empty_database_url)
    try:
        tmks = dict(await connection.fetch(
            "SELECT terminal_code, tmk_encrypted FROM terminals ORDER BY terminal_code"))
        session = await connection.fetchval(
            "SELECT session_key_encrypted FROM terminal_sessions WHERE terminal_code = $1",
            CODES[0])
    finally:
        await connection.close()
    for code in CODES:
        assert tmks[code][0] == 2 and open_key(KEK, tmks[code], code) == TMK
    assert open_key(KEK, session, CODES[0], SESSION_KEY_PURPOSE) == SESSION_KEY
    with pytest.raises(KeyStoreError):  # now bound: one terminal's TMK opens for no other
        open_key(KEK, tmks[CODES[0]], CODES[1])
    with pytest.raises(KeyStoreError):
        open_key(KEK, session, CODES[1], SESSION_KEY_PURPOSE)


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
