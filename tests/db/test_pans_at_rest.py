"""Migration 008 and its data step: a database of the old schema ends with no clear PAN."""

from __future__ import annotations

import shutil

import asyncpg
import pytest

from back_office.data_migrations import data_steps
from database import migrate
from database.errors import MigrationError
from proto.keys import Purpose, open_data_keys, open_pan, pan_hmac
from tests.conftest import REPO_DIR

pytestmark = pytest.mark.anyio

KEK = bytes(range(32))
PANS = ["6221880000000001", "6221880000000019"]


async def _dump(connection: asyncpg.Connection) -> bytes:
    """Every table's rows, as COPY writes them (what a dump would hold)."""
    tables = await connection.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    chunks: list[bytes] = []

    async def sink(data: bytes) -> None:
        chunks.append(data)

    for (table,) in tables:
        await connection.copy_from_query(f'SELECT * FROM "{table}"', output=sink)
    return b"".join(chunks)


async def _old_database(url: str, tmp_path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for path in sorted((REPO_DIR / "migrations").glob("00[1-7]_*.sql")):
        shutil.copy(path, old / path.name)
    await migrate(url, old)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO alliances (code, name, timezone, cutover_local_time,"
            " exchange_points_per_yuan) VALUES ('OLD', 'Old', 'UTC', '23:00', 100)")
        for pan in PANS:
            await connection.execute(
                "INSERT INTO cards (pan, alliance_id, expires_on)"
                " VALUES ($1, (SELECT id FROM alliances), '2099-12-31')", pan)
        await connection.execute(
            "INSERT INTO front_saf (origin, terminal_code, stan, original_data, reason_code,"
            " pan_masked, request) VALUES ('no_answer', 'T1', '000001', 'x', '68', 'm', $1)",
            b"request with " + PANS[0].encode())
    finally:
        await connection.close()


async def test_an_old_database_is_converted_and_holds_no_clear_pan(
    empty_database_url, tmp_path,
) -> None:
    await _old_database(empty_database_url, tmp_path)
    connection = await asyncpg.connect(empty_database_url)
    try:
        dump = await _dump(connection)
        assert [pan for pan in PANS if pan.encode() in dump] == PANS  # the old schema's
    finally:
        await connection.close()
    assert await migrate(empty_database_url, data_steps=data_steps(KEK)) == \
        ["008_keys_and_pans_at_rest", "009_terminal_keys_bound",
         "010_terminal_keys_sealed_to_front", "013_query_indexes"]
    connection = await asyncpg.connect(empty_database_url)
    try:
        dump = await _dump(connection)
        assert not [pan for pan in PANS if pan.encode() in dump]
        assert not await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns"
            " WHERE table_name = 'cards' AND column_name = 'pan')")
        keys = await open_data_keys(connection, KEK, list(Purpose), create=False)
        rows = await connection.fetch("SELECT pan_hmac, pan_sealed, pan_masked FROM cards"
                                      " ORDER BY id")
        for pan, row in zip(PANS, rows, strict=True):
            assert row["pan_hmac"] == pan_hmac(keys[Purpose.PAN_LOOKUP], pan)
            assert open_pan(keys[Purpose.PAN_SEAL], row["pan_sealed"], row["pan_hmac"]) == pan
            assert row["pan_masked"] == pan[:6] + "******" + pan[-4:]
    finally:
        await connection.close()


async def test_an_old_database_with_rows_refuses_a_migrator_without_the_keys(
    empty_database_url, tmp_path,
) -> None:
    await _old_database(empty_database_url, tmp_path)
    with pytest.raises(MigrationError, match="seal existing card numbers"):
        await migrate(empty_database_url)
