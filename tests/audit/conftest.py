"""Fixtures of the audit's tests: a small journal that balances, SQL, and the command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest

from jifen.cli import main
from tests.keys_kit import insert_cards

Step = Callable[[asyncpg.Connection], Awaitable[None]]

# A small journal that balances, with fixed ids that the tests break one by one:
#   accounts 1 member points, 2 merchant points issued, 3 member stored value,
#            4 merchant stored value loaded, 5 merchant stored value spent
#   1 purchase of 1000 fen, 10 points (entry 1)     2 stored-value load of 5000 fen (entry 2)
#   3 return of 400 fen of 1, 4 points (entry 3)    4 reversal of 3 (entry 4)
#   5 stored-value purchase of 2000 fen, 20 points (entries 5 points, 6 money)
LEDGER_REFERENCE_SQL = """
INSERT INTO alliances (code, name) VALUES ('AUD', 'Audit alliance');
INSERT INTO merchants (merchant_code, alliance_id, name)
    VALUES ('AUDITMERCHANT01', (SELECT id FROM alliances), 'Audit shop');
INSERT INTO terminals (terminal_code, merchant_id) VALUES ('AUDTERM1', (SELECT id FROM merchants));
"""
# The one card, sealed as the back office issues it (no clear PAN at rest).
LEDGER_CARD = "6221880000000011"
LEDGER_JOURNAL_SQL = """
INSERT INTO accounts (id, ledger, kind, card_id, merchant_id, balance) VALUES
    (1, 'points', 'member_points', (SELECT id FROM cards), NULL, 30),
    (2, 'points', 'merchant_points_issued', NULL, (SELECT id FROM merchants), -30),
    (3, 'money', 'member_stored_value', (SELECT id FROM cards), NULL, 3000),
    (4, 'money', 'merchant_stored_value_loaded', NULL, (SELECT id FROM merchants), -5000),
    (5, 'money', 'merchant_stored_value_spent', NULL, (SELECT id FROM merchants), 2000);
INSERT INTO transactions (id, kind, business_date, posted_at, terminal_code, merchant_id,
                          card_id, batch_number, mti, stan, transmission_time, rrn, auth_code,
                          amount, currency, points, original_transaction_id)
SELECT t.id, t.kind, '2025-03-01', timestamptz '2025-03-01 10:00:00+00' + t.id * interval '1 min',
       'AUDTERM1', (SELECT id FROM merchants), (SELECT id FROM cards), 1, t.mti, t.stan,
       t.transmission_time, t.rrn, t.auth_code, t.amount, t.currency, t.points, t.original
FROM (VALUES
    (1, 'purchase', '0200', '000001', '0301100100', '000000000001', '000001', 1000, '156',
     10, NULL),
    (2, 'stored_value_load', '0200', '000002', '0301100200', '000000000002', '000002', 5000,
     '156', 0, NULL),
    (3, 'return', '0200', '000003', '0301100300', '000000000003', '000003', 400, '156', -4, 1),
    (4, 'reversal', '0400', '000003', '0301100400', NULL, NULL, 400, '156', 4, 3),
    (5, 'stored_value_purchase', '0200', '000005', '0301100500', '000000000005', '000005',
     2000, '156', 20, NULL)
) AS t(id, kind, mti, stan, transmission_time, rrn, auth_code, amount, currency, points,
       original);
INSERT INTO journal_entries (id, transaction_id, ledger, business_date) VALUES
    (1, 1, 'points', '2025-03-01'), (2, 2, 'money', '2025-03-01'),
    (3, 3, 'points', '2025-03-01'), (4, 4, 'points', '2025-03-01'),
    (5, 5, 'points', '2025-03-01'), (6, 5, 'money', '2025-03-01');
INSERT INTO postings (entry_id, account_id, amount) VALUES
    (1, 1, 10), (1, 2, -10), (2, 3, 5000), (2, 4, -5000), (3, 1, -4), (3, 2, 4),
    (4, 1, 4), (4, 2, -4), (5, 1, 20), (5, 2, -20), (6, 3, -2000), (6, 5, 2000);
"""


async def _seed_ledger_card(connection: asyncpg.Connection) -> None:
    alliance = await connection.fetchval("SELECT id FROM alliances WHERE code = 'AUD'")
    await insert_cards(connection, [LEDGER_CARD], alliance, date(2099, 12, 31))


# The steps of `sql(*LEDGER_SQL)`: SQL, or an async step given the connection.
LEDGER_SQL = (LEDGER_REFERENCE_SQL, _seed_ledger_card, LEDGER_JOURNAL_SQL)


class Run(msgspec.Struct):
    exit_code: int
    out: str
    err: str


@pytest.fixture
def sql(database_url: str, run_async: Callable[..., Any]) -> Callable[..., None]:
    """`sql("UPDATE ...", ...)`: statements (or async steps given the connection, for what
    needs the keys) run in one transaction, as a superuser in
    replica mode: the tampering the audit must find goes past the journal's append-only
    trigger (migrations/006_roles.sql) as only a superuser can, and past foreign keys."""

    async def execute(*statements: str | Step) -> None:
        connection = await asyncpg.connect(database_url)
        try:
            async with connection.transaction():
                await connection.execute("SET LOCAL session_replication_role = replica")
                for statement in statements:
                    if isinstance(statement, str):
                        await connection.execute(statement)
                    else:
                        await statement(connection)
        finally:
            await connection.close()

    return lambda *statements: run_async(execute, *statements)


@pytest.fixture
def ledger_url(database_url: str, sql: Callable[..., None]) -> str:
    """A database holding LEDGER_SQL's journal."""
    sql(*LEDGER_SQL)
    return database_url


@pytest.fixture
def audit(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Run]:
    """`audit("--json")`: `jifen audit`'s exit code and output on this test's database."""
    config = tmp_path / "jifen.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n')
    monkeypatch.delenv("JIFEN_DATABASE_URL", raising=False)

    def run(*argv: str) -> Run:
        capsys.readouterr()
        exit_code = main(["--config", str(config), "audit", *argv])
        captured = capsys.readouterr()
        return Run(exit_code, captured.out, captured.err)

    return run
