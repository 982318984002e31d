"""Fixtures of the operator tests: the `jifen` command on a fresh database with two merchants,
operators of each role made for the test alone (their login roles dropped afterwards: roles
are the server's, not the database's), and SQL as anyone."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
import pytest

from tests.provisioning.cli_harness import Run, jifen_on

ALLIANCE = "OPS"
MERCHANT_A = "OPSMERCHANT0001"
MERCHANT_B = "OPSMERCHANT0002"
TERMINAL_A = "OPSA0001"
TERMINAL_B = "OPSB0001"
BIN = "622199"


class Operator(msgspec.Struct, frozen=True):
    name: str
    password: str
    url: str          # this test's database, logged in as the operator


@pytest.fixture
def jifen(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Run]:
    """`jifen("alliance", "list")` in the installer's mode on a database with alliance OPS, two
    merchants, a terminal each and a card range; `jifen("--operator", ...)` as an operator."""
    monkeypatch.delenv("JIFEN_OPERATOR", raising=False)
    monkeypatch.delenv("JIFEN_OPERATOR_PASSWORD", raising=False)
    monkeypatch.delenv("JIFEN_OPERATOR_PASSWORD_FILE", raising=False)
    run = jifen_on(database_url, tmp_path, monkeypatch, capsys)
    tmk_file = tmp_path / "tmk.hex"
    tmk_file.write_text("0123456789ABCDEFFEDCBA9876543210\n")
    for argv in (("alliance", "create", "--code", ALLIANCE, "--name", "Ops"),
                 ("merchant", "create", "--alliance", ALLIANCE, "--code", MERCHANT_A,
                  "--name", "Shop A"),
                 ("merchant", "create", "--alliance", ALLIANCE, "--code", MERCHANT_B,
                  "--name", "Shop B"),
                 ("terminal", "create", "--code", TERMINAL_A, "--merchant", MERCHANT_A,
                  "--tmk-file", str(tmk_file)),
                 ("terminal", "create", "--code", TERMINAL_B, "--merchant", MERCHANT_B,
                  "--tmk-file", str(tmk_file)),
                 ("card-range", "add", "--bin-low", BIN, "--bin-high", BIN),
                 ("settlement-rule", "set", "--alliance", ALLIANCE, "--merchant", MERCHANT_B,
                  "--effective", "2030-01-01", "--issue-price-fen", "1",
                  "--redemption-rate-fen", "0.9")):
        result = run(*argv)
        assert result.exit_code == 0, result.err
    return run


@pytest.fixture
def operator_of(
    jifen: Callable[..., Run], database_url: str, monkeypatch: pytest.MonkeyPatch,
    execute_sql: Callable[..., None],
) -> Iterator[Callable[..., Operator]]:
    """`operator_of("card_service")`: a new operator of that role (a merchant admin of
    MERCHANT_A unless `merchant=` says otherwise), made by the installer over the CLI."""
    made: list[str] = []
    parts = urlsplit(database_url)
    host = parts.netloc.rpartition("@")[2]

    def make(role: str, merchant: str | None = None) -> Operator:
        name = f"t{uuid.uuid4().hex[:10]}_{role}"[:40]
        password = secrets.token_urlsafe(18)
        monkeypatch.setenv("TEST_NEW_PASSWORD", password)
        argv = ["operator", "create", "--name", name, "--role", role,
                "--password-env", "TEST_NEW_PASSWORD"]
        if role == "merchant_admin":
            argv += ["--merchant", merchant or MERCHANT_A]
        result = jifen(*argv)
        assert result.exit_code == 0, result.err
        made.append(name)
        monkeypatch.delenv("TEST_NEW_PASSWORD")
        return Operator(name, password,
                        urlunsplit(parts._replace(netloc=f"{name}:{password}@{host}")))

    yield make
    for name in made:
        execute_sql(database_url, f"DROP ROLE IF EXISTS {name}")


@pytest.fixture
def as_operator(
    jifen: Callable[..., Run], monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Run]:
    """`as_operator(op, "merchant", "list")`: the command as that operator, its password
    in $JIFEN_OPERATOR_PASSWORD."""

    def run(operator: Operator, *argv: str) -> Run:
        monkeypatch.setenv("JIFEN_OPERATOR_PASSWORD", operator.password)
        try:
            return jifen("--operator", operator.name, *argv)
        finally:
            monkeypatch.delenv("JIFEN_OPERATOR_PASSWORD")

    return run


@pytest.fixture
def sql_as(run_async: Callable[..., Any]) -> Callable[..., list[asyncpg.Record]]:
    """`sql_as(url, "SELECT ...", *args)`: the rows, on a connection of that URL."""

    async def fetch(url: str, query: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    return lambda url, query, *args: run_async(fetch, url, query, *args)


# `jifen audit` after every test of a database, as in the end-to-end tests.
from tests.e2e.conftest import audited_database  # noqa: E402,F401
