"""Operators read the journal under their own roles: a merchant admin sees only its own
merchant's transactions and statement lines, over the CLI and over SQL (migration 017), and
other partitions' narrowed alike (migration 041)."""

from __future__ import annotations

import json
import secrets
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.e2e.system import CARDS, MERCHANT, SECOND_MERCHANT
from tests.queries.conftest import Journal


@pytest.fixture
def merchant_admin(jifen, database_url, monkeypatch, execute_sql):
    """An operator who administers MERCHANT: (name, password, its own database URL)."""
    name = f"t{uuid.uuid4().hex[:10]}_madmin"
    password = secrets.token_urlsafe(18)
    monkeypatch.setenv("TEST_NEW_PASSWORD", password)
    made = jifen("operator", "create", "--name", name, "--role", "merchant_admin",
                 "--merchant", MERCHANT, "--password-env", "TEST_NEW_PASSWORD")
    assert made.exit_code == 0, made.err
    parts = urlsplit(database_url)
    url = urlunsplit(parts._replace(
        netloc=f"{name}:{password}@{parts.netloc.rpartition('@')[2]}"))
    yield name, password, url
    execute_sql(database_url, f"DROP ROLE IF EXISTS {name}")


def test_a_merchant_admin_sees_its_own_lines_only(
    jifen, journal: Journal, merchant_admin, monkeypatch, run_async, database_url,
) -> None:
    name, password, url = merchant_admin
    monkeypatch.setenv("JIFEN_OPERATOR_PASSWORD", password)
    mine = jifen("--operator", name, "txn", "find", "--json")
    assert mine.exit_code == 0, mine.err
    rows = json.loads(mine.out)["rows"]
    assert rows and {row["merchant_code"] for row in rows} == {MERCHANT}
    assert len(json.loads(jifen("txn", "find", "--json").out)["rows"]) > len(rows)
    other = jifen("--operator", name, "txn", "find", "--merchant", SECOND_MERCHANT, "--json")
    # Another merchant does not exist for it (row-level security on merchants, 011).
    assert other.exit_code == 2 and f"no merchant {SECOND_MERCHANT}" in other.err
    # The host's declines, through the terminal: the 51 at MERCHANT's TERM0001 is its own.
    declines = jifen("--operator", name, "txn", "find", "--declined", "--json")
    assert declines.exit_code == 0, declines.err
    assert [(row["terminal_code"], row["response_code"])
            for row in json.loads(declines.out)["rows"]] == [(journal.declined_terminal, "51")]
    statement = jifen("--operator", name, "card", "statement", "--pan", CARDS[0], "--from",
                      str(journal.business_date), "--to", str(journal.business_date),
                      "--format", "json")
    assert statement.exit_code == 0, statement.err

    async def counts() -> dict[str, int]:
        connection = await asyncpg.connect(url)
        try:
            return {table: await connection.fetchval(f"SELECT count(*) FROM {table}")
                    for table in ("transactions", "journal_entries", "postings", "cards",
                                  "host_requests")}
        finally:
            await connection.close()

    seen = run_async(counts)
    assert 0 < seen["transactions"] < journal.transactions
    assert seen["cards"] == 2   # CARDS[0] and CARDS[1] transacted at MERCHANT
    # Its terminals' requests (the sign-ons, approvals and the decline), not the other
    # alliance's merchant's.
    assert seen["host_requests"] == run_async(_requests_at, database_url, MERCHANT)
    assert seen["host_requests"] < run_async(_requests_at, database_url, None)


async def _requests_at(database_url: str, merchant_code: str | None) -> int:
    """host_requests of the merchant's terminals (None: all), read as the installer."""
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(
            "SELECT count(*) FROM host_requests WHERE $1::text IS NULL OR terminal_code IN"
            " (SELECT t.terminal_code FROM terminals t JOIN merchants m ON m.id = t.merchant_id"
            "  WHERE m.merchant_code = $1)", merchant_code)
    finally:
        await connection.close()


def test_a_merchant_admin_reads_other_partitions_too(
    jifen, journal: Journal, merchant_admin, monkeypatch, tmp_path, execute_sql, database_url,
) -> None:
    # Another partition is read too (narrowed to the merchant as jifen_merchant_reader,
    # migration 041; tests/queries/test_partitions.py): one that does not answer fails the
    # query, naming it, as for any operator.
    name, password, _ = merchant_admin
    monkeypatch.setenv("JIFEN_OPERATOR_PASSWORD", password)
    execute_sql(database_url,
                "INSERT INTO partitions (name, number, state) VALUES ('p2', 1, 'ready')")
    with (tmp_path / "jifen.toml").open("a") as config:
        config.write('[partitions.p2]\nurl = "postgresql://jifen@127.0.0.1:1/jifen"\n')
    for argv in (("txn", "find"), ("txn", "find", "--declined"),
                 ("card", "statement", "--pan", CARDS[0], "--from",
                  str(journal.business_date), "--to", str(journal.business_date))):
        run = jifen("--operator", name, *argv)
        assert run.exit_code == 2, argv
        assert "partition p2 could not be read" in run.err
