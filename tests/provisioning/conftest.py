"""Fixtures of the provisioning tests: the `jifen` command on a fresh database, and SQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from acquirer_front.keystore import KeyStore
from tests.keys_kit import front_keystore
from tests.provisioning.cli_harness import TEST_KEK_HEX, Run, jifen_on


@pytest.fixture
def jifen(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Run]:
    """`jifen("alliance", "list")`: the command's exit code and output, on this test's DB."""
    return jifen_on(database_url, tmp_path, monkeypatch, capsys)


@pytest.fixture
def front(
    jifen: Callable[..., Run], database_url: str, run_async: Callable[..., Any],
) -> Callable[[], KeyStore]:
    """`front()`: the key store the front of this test's installation opens (under the KEK
    the `jifen` fixture runs with): what only the front could do, to check a sealed TMK."""
    return lambda: run_async(front_keystore, database_url, bytes.fromhex(TEST_KEK_HEX))


@pytest.fixture
def sql(database_url: str, run_async: Callable[..., Any]) -> Callable[..., list[asyncpg.Record]]:
    """`sql("SELECT ...", *args)`: the rows, from a sync test."""

    async def fetch(query: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    return lambda query, *args: run_async(fetch, query, *args)


# `jifen audit` after every test of a database, as in the end-to-end tests.
from tests.e2e.conftest import audited_database  # noqa: E402,F401
