"""One generated business day (loadtest/journal_gen.py) in one database, and the same day split
over two partition databases, central's (`main`) and `p2`'s, as clearing and the audit find
them once step 3's replication has run: every partition holds the reference data (alliances,
merchants, terminals, cards), and each the journal of its own cards only.

The split is by card: a card's transactions, its reversals and returns with them, are all in
one partition, as a host keeps them. Each partition's owner accounts hold what its own
postings sum to; a card's accounts are only in its partition. The three databases are copies
of the test's template on the suite's server (replication itself is tests/db's); they are
dropped at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec

from database import with_database
from loadtest.journal_gen import JournalShape, JournalSummary, generate_journal

ALLIANCE = "SPL"
DAY = datetime.now(UTC).date() - timedelta(days=12)
# A partition nobody listens for: port 1 refuses at once.
UNREACHABLE_URL = "postgresql://jifen@127.0.0.1:1/jifen"
SHAPE = JournalShape(business_date=DAY, postings=6_000, alliance_code=ALLIANCE, merchants=8,
                     terminals_per_merchant=2, cards=60, seed=7)
# Prices whose products are fractions of a fen, merchants of their own among them: rounding
# each partition's share apart would give other fen than rounding the total once.
RULES_SQL = """
INSERT INTO settlement_rules (alliance_id, merchant_id, effective_from, issue_price_fen,
                              redemption_rate_fen, commission_bp, commission_fen_per_txn)
SELECT a.id, NULL, DATE '2000-01-01', 0.755, 0.9, 45, 0.35 FROM alliances a WHERE a.code = $1
UNION ALL
SELECT m.alliance_id, m.id, DATE '2000-01-01', 0.615, 0.835, 55, 0.5
FROM merchants m JOIN alliances a ON a.id = m.alliance_id
WHERE a.code = $1 AND m.id % 3 = 0
"""
# A partition keeps the transactions of its cards (half by card id), their entries and
# postings; a card's accounts only where its card is; owner accounts as their postings sum.
# The journal is append-only (a trigger): the split is made as the suite's superuser, with
# triggers off for this transaction, as a restore would be.
_KEEP_SQL = """
SET LOCAL session_replication_role = replica;
CREATE TEMPORARY TABLE dropped ON COMMIT DROP AS
    SELECT id FROM transactions WHERE coalesce(card_id, id) % 2 <> $1;
DELETE FROM postings WHERE entry_id IN (
    SELECT e.id FROM journal_entries e JOIN dropped d ON d.id = e.transaction_id);
DELETE FROM journal_entries WHERE transaction_id IN (SELECT id FROM dropped);
DELETE FROM transactions WHERE id IN (SELECT id FROM dropped);
DELETE FROM accounts WHERE card_id IS NOT NULL AND card_id % 2 <> $1;
UPDATE accounts a SET balance = coalesce(
    (SELECT sum(p.amount) FROM postings p WHERE p.account_id = a.id), 0)
WHERE a.card_id IS NULL;
"""
# What `jifen partition add p2` leaves in central's table (and, replicated, in p2's).
P2_SQL = "INSERT INTO partitions (name, number, state) VALUES ('p2', 1, 'ready')"
CONNECT_TIMEOUT_S = 10.0


class SplitDay(msgspec.Struct, frozen=True):
    single_url: str          # the whole day in one database
    central_url: str         # partition main: the even cards' half, and the clearing tables
    p2_url: str              # partition p2: the odd cards' half
    summary: JournalSummary


async def first_row(url: str, sql: str) -> asyncpg.Record:
    """The first row `sql` returns on `url` (there must be one)."""
    async with connected(url) as connection:
        row = await connection.fetchrow(sql)
    assert row is not None
    return row


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to `url` for the block, closed after it."""
    connection = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
    try:
        yield connection
    finally:
        await connection.close()


async def _keep_half(url: str, parity: int) -> None:
    async with connected(url) as connection, connection.transaction():
        for statement in _KEEP_SQL.strip().split(";\n"):
            if "$1" in statement:
                await connection.execute(statement, parity)
            else:
                await connection.execute(statement)
        await connection.execute(P2_SQL)


async def make_split(server_url: str, single_url: str) -> SplitDay:
    """The day generated into `single_url` (the test's database), then copied into two new
    databases and split; `drop_split` drops them."""
    async with connected(single_url) as connection:
        summary = await generate_journal(connection, SHAPE)
        await connection.execute(RULES_SQL, ALLIANCE)
    single = single_url.rsplit("/", 1)[1]
    names = [f"jifen_test_{uuid.uuid4().hex}" for _ in range(2)]
    async with connected(server_url) as server:
        for name in names:
            await server.execute(f"CREATE DATABASE {name} TEMPLATE {single}")
    central_url, p2_url = (with_database(server_url, name) for name in names)
    split = SplitDay(single_url, central_url, p2_url, summary)
    try:
        await _keep_half(central_url, 0)
        await _keep_half(p2_url, 1)
    except BaseException:
        await drop_split(server_url, split)
        raise
    return split


async def drop_split(server_url: str, split: SplitDay) -> None:
    async with connected(server_url) as server:
        for url in (split.central_url, split.p2_url):
            name = url.rsplit("/", 1)[1]
            await server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def write_config(
    path: Path, central_url: str, partitions: dict[str, str],
    role_urls: dict[str, dict[str, str]] | None = None,
) -> Path:
    """A configuration naming central's database and each partition's by URL; `role_urls`,
    by section ("database" or a partition's name), a service's own URL (`clearing_url`, ...),
    so that the command logs in with that role's grants only."""
    role_urls = role_urls or {}

    def section(header: str, key: str, url: str) -> str:
        lines = [header, f'url = "{url}"']
        lines += [f'{name} = "{value}"' for name, value in role_urls.get(key, {}).items()]
        return "\n".join(lines) + "\n"

    text = section("[database]", "database", central_url)
    for name, url in partitions.items():
        text += section(f"[partitions.{name}]", name, url)
    path.write_text(text)
    return path


def on_database(url: str, other_url: str) -> str:
    """`url`'s login on `other_url`'s database (roles are the server's, not a database's)."""
    return with_database(url, other_url.rsplit("/", 1)[1])
