"""A synthetic, balanced journal of any size, for measuring the audit on a big database.

    .venv/bin/python -m tests.audit.synthetic --postings 10000000

creates database jifen_audit_synthetic on the test server ($JIFEN_DATABASE_URL, else the
embedded one under var/test-pg), fills it, times `jifen audit`'s checks one by one, and drops
it (unless --keep). Two postings per transaction: purchases earn points, every tenth
transaction is a stored-value load (money ledger), every 100th a return of the purchase
before it (half its amount), every 100th + 1 a reversal of the one before it.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date
from pathlib import Path

import anyio
import asyncpg

from back_office.ledger_check import audit_connection
from database import EmbeddedPostgres, fresh_database
from tests.keys_kit import insert_cards

DATABASE_NAME = "jifen_audit_synthetic"
MERCHANTS = 10
CARDS_PER_POSTINGS = 10    # one card per ten postings: a realistic spread of activity
# The load runs as a few big statements; on 2 cores 10^7 postings take a few minutes.
LOAD_TIMEOUT_S = 3600.0

_ALLIANCE_SQL = "INSERT INTO alliances (code, name) VALUES ('SYN', 'Synthetic')"
_MERCHANTS_SQL = """
INSERT INTO merchants (merchant_code, alliance_id, name)
SELECT 'SYNMERCHANT' || lpad(m::text, 4, '0'), 1, 'Synthetic ' || m
FROM generate_series(1, $1::int) AS m
"""
# One terminal per merchant, 'SYNT' + the merchant's id: the audit checks each transaction's.
_TERMINALS_SQL = """
INSERT INTO terminals (terminal_code, merchant_id)
SELECT 'SYNT' || lpad(m::text, 4, '0'), m FROM generate_series(1, $1::int) AS m
"""
# Cards are sealed as the back office issues them (tests/keys_kit): PAN n is '9' + n in 15
# digits, card n has id n (a fresh table).
CARDS_EXPIRE_ON = date(2099, 12, 31)

# Accounts: 1..C member points, C+1..2C member stored value, then per merchant points issued
# and stored value loaded.
_ACCOUNTS_SQL = """
INSERT INTO accounts (id, ledger, kind, card_id, merchant_id, alliance_id, balance)
SELECT c::bigint, 'points', 'member_points', c::bigint, NULL::integer, NULL::integer, 0
FROM generate_series(1, $1::int) AS c
UNION ALL
SELECT $1 + c, 'money', 'member_stored_value', c, NULL, NULL, 0
FROM generate_series(1, $1::int) AS c
UNION ALL
SELECT 2 * $1 + m, 'points', 'merchant_points_issued', NULL, m, NULL, 0
FROM generate_series(1, $2::int) AS m
UNION ALL
SELECT 2 * $1 + $2 + m, 'money', 'merchant_stored_value_loaded', NULL, m, NULL, 0
FROM generate_series(1, $2::int) AS m
"""

_TRANSACTIONS_SQL = """
INSERT INTO transactions (id, kind, business_date, posted_at, terminal_code, merchant_id,
                          card_id, batch_number, mti, stan, transmission_time, rrn,
                          auth_code, amount, currency, points, original_transaction_id)
SELECT t, x.kind, (x.posted_at)::date, x.posted_at, 'SYNT' || lpad((t % $2 + 1)::text, 4, '0'),
       t % $2 + 1, t % $3 + 1, 1,
       '0200', lpad((t % 1000000)::text, 6, '0'), to_char(x.posted_at, 'MMDDHH24MISS'),
       lpad(t::text, 12, '0'), lpad((t % 1000000)::text, 6, '0'),
       x.amount, x.currency, x.amount / 100 * x.sign, x.original
FROM generate_series(1, $1::bigint) AS t,
LATERAL (SELECT
    timestamptz '2025-01-01 00:00:00+00' + t * interval '1 second' AS posted_at,
    CASE WHEN t % 100 = 0 THEN 'return' WHEN t % 100 = 1 AND t > 1 THEN 'reversal'
         WHEN t % 10 = 3 THEN 'stored_value_load' ELSE 'purchase' END AS kind,
    CASE WHEN t % 100 = 0 THEN 100 + (t - 1) * 7919 % 100000 / 2
         WHEN t % 100 = 1 AND t > 1 THEN 100 + (t - 1) * 7919 % 100000 / 2
         ELSE 100 + t * 7919 % 100000 END AS amount,
    CASE WHEN t % 10 = 3 THEN '156' ELSE '999' END AS currency,
    CASE WHEN t % 100 IN (0, 1) AND t > 1 THEN -1 ELSE 1 END AS sign,
    CASE WHEN t % 100 IN (0, 1) AND t > 1 THEN t - 1 END AS original
) AS x
"""

_ENTRIES_SQL = """
INSERT INTO journal_entries (id, transaction_id, ledger, business_date)
SELECT id, id, CASE WHEN kind = 'stored_value_load' THEN 'money' ELSE 'points' END,
       business_date
FROM transactions
"""

# Member account +x, merchant account -x; stored-value loads in the money ledger.
_POSTINGS_SQL = """
INSERT INTO postings (entry_id, account_id, amount)
SELECT t.id, a.account_id, a.amount
FROM transactions AS t,
LATERAL (VALUES
    (CASE WHEN t.kind = 'stored_value_load' THEN $1 + t.card_id ELSE t.card_id END,
     CASE WHEN t.kind = 'stored_value_load' THEN t.amount ELSE t.points END),
    (CASE WHEN t.kind = 'stored_value_load' THEN 2 * $1 + $2 + t.merchant_id
          ELSE 2 * $1 + t.merchant_id END,
     CASE WHEN t.kind = 'stored_value_load' THEN -t.amount ELSE -t.points END)
) AS a(account_id, amount)
"""

_BALANCES_SQL = """
UPDATE accounts AS a SET balance = s.total
FROM (SELECT account_id, sum(amount) AS total FROM postings GROUP BY account_id) AS s
WHERE s.account_id = a.id
"""


async def fill(connection: asyncpg.Connection, postings: int) -> None:
    """A balanced journal of about `postings` postings into a freshly migrated database."""
    transactions = max(postings // 2, 1)
    cards = max(postings // CARDS_PER_POSTINGS, 1)
    async with connection.transaction():
        # A bulk load of rows built to satisfy them: skip the per-row foreign key triggers.
        await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.execute("SET LOCAL work_mem = '256MB'")
        await connection.execute(_ALLIANCE_SQL)
        await connection.execute(_MERCHANTS_SQL, MERCHANTS)
        await connection.execute(_TERMINALS_SQL, MERCHANTS)
        await insert_cards(connection, [f"9{c:015d}" for c in range(1, cards + 1)], 1,
                           CARDS_EXPIRE_ON)
        await connection.execute(_ACCOUNTS_SQL, cards, MERCHANTS)
        await connection.execute(_TRANSACTIONS_SQL, transactions, MERCHANTS, cards)
        await connection.execute(_ENTRIES_SQL)
        await connection.execute(_POSTINGS_SQL, cards, MERCHANTS)
        await connection.execute(_BALANCES_SQL)
    await connection.execute("VACUUM ANALYZE")


async def _main(server_url: str, postings: int, keep: bool) -> None:
    url = await fresh_database(server_url, DATABASE_NAME)
    connection = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        with anyio.fail_after(LOAD_TIMEOUT_S):
            await fill(connection, postings)
        print(f"filled in {time.perf_counter() - started:.1f} s")
        report = await audit_connection(connection)
    finally:
        await connection.close()
    counts = report.counts
    print(f"{counts.postings} postings, {counts.entries} entries, {counts.transactions} "
          f"transactions, {counts.accounts} accounts")
    for check in report.checks:
        print(f"  {check.name:<26} {check.elapsed_s:7.2f} s  {check.violation_count} violations")
    print(f"audit {'clean' if report.clean else 'NOT clean'} in {report.elapsed_s:.2f} s")
    if not keep:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)")
        finally:
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postings", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    args = parser.parse_args()
    server_url = os.environ.get("JIFEN_DATABASE_URL") or EmbeddedPostgres(
        Path(__file__).resolve().parents[2] / "var" / "test-pg").ensure_running()
    anyio.run(_main, server_url, args.postings, args.keep, backend="asyncio")


if __name__ == "__main__":
    main()
