"""A synthetic journal of one business day, written the fast way: a new alliance with its
merchants, terminals and cards, then the day's transactions, journal entries, postings,
accounts and terminal batches (loadtest/journal_day.py makes the rows) by COPY.

For the clearing benchmark (loadtest/clearing_bench.py) and for tests. The rows are in the
shape the account host writes and pass `jifen audit`; ids come from host_counters, which are
moved past them, so a host started on the database later carries on without collisions.
The whole load is one transaction: all of it or nothing.

Big loads (postings >= INDEX_REBUILD_POSTINGS_MIN) drop the journal tables' secondary indexes
first and build them again at the end, which is several times faster than maintaining them
row by row; foreign keys are not checked row by row either (session_replication_role =
replica, where the role may set it): the rows are built to satisfy them.
"""

from __future__ import annotations

import gc
import time as clock
from collections.abc import Callable
from datetime import date

import anyio
import asyncpg
import msgspec

from back_office.provisioning.cards import insert_known_cards
from loadtest.journal_day import (
    ACCOUNT_COLUMNS,
    BATCH_COLUMNS,
    ENTRY_COLUMNS,
    POSTING_COLUMNS,
    TRANSACTION_COLUMNS,
    Chunk,
    Counters,
    JournalDay,
    Owners,
)
from proto.keys import load_kek

# One card per this many postings: about ten transactions a card in the day, a busy
# programme (a quieter one only makes the member accounts more numerous).
POSTINGS_PER_CARD = 25
# Below this many postings the indexes are kept: rebuilding them would cost more.
INDEX_REBUILD_POSTINGS_MIN = 1_000_000
# Transactions per COPY round: big enough to amortise a round trip, small enough that one
# chunk's rows (about 3 KB a transaction in Python) stay well below 1 GB.
CHUNK_TRANSACTIONS = 50_000
# Terminal codes are 8 characters: "G" + alliance id (3 digits) + terminal (4 digits).
TERMINALS_MAX = 9_999
ALLIANCE_ID_MAX = 999
JOURNAL_TABLES = ("transactions", "journal_entries", "postings")

ProgressCallback = Callable[[int, int], None]   # (postings written, postings target)


class JournalShape(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What to generate: one business day of a new alliance."""

    business_date: date
    postings: int                       # the day's journal rows (postings), about
    alliance_code: str = "GEN"
    merchants: int = 50
    terminals_per_merchant: int = 4
    cards: int = 0                      # 0: postings // POSTINGS_PER_CARD, at least 10
    seed: int = 1
    out_of_balance_every: int = 40      # every n-th terminal's batch closed 95 (0: none)
    unreconciled_every: int = 25        # every n-th terminal never sent its 0500 (0: none)


class JournalSummary(msgspec.Struct, frozen=True):
    alliance_code: str
    alliance_id: int
    business_date: date
    transactions: int
    entries: int
    postings: int
    accounts: int
    terminal_batches: int
    kinds: dict[str, int]
    load_s: float                       # everything up to the commit
    analyze_s: float                    # VACUUM ANALYZE of the journal afterwards


class JournalGenError(Exception):
    """The journal could not be generated (an alliance of that code exists, bad shape)."""


async def generate_journal(
    connection: asyncpg.Connection, shape: JournalShape,
    progress: ProgressCallback | None = None,
) -> JournalSummary:
    """Generate and commit the day, then VACUUM ANALYZE the journal tables."""
    _check_shape(shape)
    started = clock.perf_counter()
    async with connection.transaction():
        await _relax_foreign_key_checks(connection)
        owners = await _provision(connection, shape)
        counters = await _counters(connection)
        cards = shape.cards or max(shape.postings // POSTINGS_PER_CARD, 10)
        day = JournalDay(owners, shape.business_date, shape.postings, counters, shape.seed)
        assert len(owners.card_ids) == cards
        indexes = []
        if shape.postings >= INDEX_REBUILD_POSTINGS_MIN:
            indexes = await _drop_secondary_indexes(connection)
        entries = await _copy_day(connection, day, progress)
        accounts = day.account_rows()
        await connection.copy_records_to_table("accounts", records=accounts,
                                               columns=ACCOUNT_COLUMNS)
        batches = day.batch_rows(shape.out_of_balance_every, shape.unreconciled_every)
        await connection.copy_records_to_table("terminal_batches", records=batches,
                                               columns=BATCH_COLUMNS)
        for definition in indexes:
            await connection.execute(definition)
        await _advance_counters(connection, counters)
    loaded = clock.perf_counter()
    await connection.execute(f"VACUUM ANALYZE {', '.join((*JOURNAL_TABLES, 'accounts'))}")
    return JournalSummary(
        shape.alliance_code, owners.alliance_id, shape.business_date, day.transactions_made,
        entries, day.postings_made, len(accounts), len(batches), dict(day.kinds_made),
        loaded - started, clock.perf_counter() - loaded)


def _check_shape(shape: JournalShape) -> None:
    terminals = shape.merchants * shape.terminals_per_merchant
    if shape.postings <= 0 or shape.merchants <= 0 or shape.terminals_per_merchant <= 0:
        raise JournalGenError("postings, merchants and terminals per merchant must be > 0")
    if terminals > TERMINALS_MAX:
        raise JournalGenError(f"{terminals} terminals: at most {TERMINALS_MAX}")
    if not 0 < len(shape.alliance_code) <= 32:
        raise JournalGenError("the alliance code is 1 to 32 characters")


async def _copy_day(connection: asyncpg.Connection, day: JournalDay,
                    progress: ProgressCallback | None) -> int:
    """COPY the day chunk by chunk, making the next chunk in a thread while the server takes
    the last one (the server's work runs on the other core). Returns the entries written."""
    chunks = day.chunks(CHUNK_TRANSACTIONS)
    entries = postings = 0
    collecting = gc.isenabled()
    gc.disable()    # millions of new tuples and no cycles: the collector would rescan them all
    try:
        chunk: Chunk | None = await anyio.to_thread.run_sync(next, chunks, None)
        while chunk is not None:
            following: list[Chunk | None] = []

            async def make_next(into: list[Chunk | None] = following) -> None:
                into.append(await anyio.to_thread.run_sync(next, chunks, None))

            async with anyio.create_task_group() as group:
                group.start_soon(make_next)
                await _copy_chunk(connection, chunk)
            entries += len(chunk.entries)
            postings += len(chunk.postings)
            if progress is not None:
                progress(postings, day.postings_target)
            chunk = following[0]
    finally:
        if collecting:
            gc.enable()
    return entries


async def _copy_chunk(connection: asyncpg.Connection, chunk: Chunk) -> None:
    await connection.copy_records_to_table("transactions", records=chunk.transactions,
                                           columns=TRANSACTION_COLUMNS)
    await connection.copy_records_to_table("journal_entries", records=chunk.entries,
                                           columns=ENTRY_COLUMNS)
    await connection.copy_records_to_table("postings", records=chunk.postings,
                                           columns=POSTING_COLUMNS)


async def _relax_foreign_key_checks(connection: asyncpg.Connection) -> None:
    """Skip the per-row foreign key triggers for this transaction, where the role may."""
    is_superuser = await connection.fetchval(
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    if is_superuser:
        await connection.execute("SET LOCAL session_replication_role = replica")


_PROVISION_SQL = """
WITH alliance AS (
    INSERT INTO alliances (code, name) VALUES ($1, 'Synthetic ' || $1)
    RETURNING id, timezone, cutover_local_time, exchange_points_per_yuan
)
SELECT * FROM alliance
"""
_MERCHANTS_SQL = """
INSERT INTO merchants (merchant_code, alliance_id, name, earn_points_per_yuan)
SELECT 'GEN' || lpad($1::int::text, 4, '0') || 'M' || lpad(m::text, 7, '0'), $1::int,
       'Synthetic shop ' || m, 1 + m % 3
FROM generate_series(0, $2::int - 1) AS m
ORDER BY m
RETURNING id, earn_points_per_yuan
"""
_TERMINALS_SQL = """
INSERT INTO terminals (terminal_code, merchant_id)
SELECT 'G' || lpad($1::int::text, 3, '0') || lpad(t::text, 4, '0'),
       ($2::int[])[t / $3::int + 1]
FROM generate_series(0, array_length($2::int[], 1) * $3::int - 1) AS t
ORDER BY t
RETURNING terminal_code
"""
# Cards: PAN '8' + the alliance id in 4 digits + the card's number in 11, sealed as the back
# office issues them (no PAN is stored in clear).
CARDS_EXPIRE_ON = date(2099, 12, 31)


async def _provision(connection: asyncpg.Connection, shape: JournalShape) -> Owners:
    exists = await connection.fetchval("SELECT 1 FROM alliances WHERE code = $1",
                                       shape.alliance_code)
    if exists:
        raise JournalGenError(f"alliance {shape.alliance_code} exists: generate a new one")
    alliance = await connection.fetchrow(_PROVISION_SQL, shape.alliance_code)
    assert alliance is not None, "INSERT ... RETURNING gives the row"
    alliance_id = alliance["id"]
    if alliance_id > ALLIANCE_ID_MAX:
        raise JournalGenError(f"alliance id {alliance_id} does not fit the terminal codes")
    merchants = await connection.fetch(_MERCHANTS_SQL, alliance_id, shape.merchants)
    merchant_ids = [row["id"] for row in merchants]
    terminals = await connection.fetch(_TERMINALS_SQL, alliance_id, merchant_ids,
                                       shape.terminals_per_merchant)
    cards = shape.cards or max(shape.postings // POSTINGS_PER_CARD, 10)
    card_ids = await insert_known_cards(
        connection, [f"8{alliance_id:04d}{c:011d}" for c in range(cards)], alliance_id,
        CARDS_EXPIRE_ON, kek=load_kek())
    per_merchant = shape.terminals_per_merchant
    return Owners(
        alliance_id, alliance["timezone"], alliance["cutover_local_time"],
        alliance["exchange_points_per_yuan"], tuple(merchant_ids),
        tuple(row["earn_points_per_yuan"] for row in merchants),
        tuple(row["terminal_code"] for row in terminals),
        tuple(index // per_merchant for index in range(len(terminals))),
        tuple(card_ids))


async def _counters(connection: asyncpg.Connection) -> Counters:
    rows = await connection.fetch("SELECT name, next_value FROM host_counters FOR UPDATE")
    values = {row["name"]: row["next_value"] for row in rows}
    return Counters(values["transaction"], values["entry"], values["account"], values["rrn"],
                    values["auth_code"])


async def _advance_counters(connection: asyncpg.Connection, counters: Counters) -> None:
    names = ["transaction", "entry", "account", "rrn", "auth_code"]
    values = [counters.transaction, counters.entry, counters.account, counters.rrn,
              counters.auth_code]
    await connection.execute(
        "UPDATE host_counters AS c SET next_value = greatest(c.next_value, v.next_value) "
        "FROM unnest($1::text[], $2::bigint[]) AS v(name, next_value) WHERE c.name = v.name",
        names, values)


async def _drop_secondary_indexes(connection: asyncpg.Connection) -> list[str]:
    """Drop the journal tables' indexes that back no constraint; their definitions."""
    rows = await connection.fetch(
        """
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
        FROM pg_index AS i
        WHERE i.indrelid = ANY ($1::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)
        """, list(JOURNAL_TABLES))
    for row in rows:
        await connection.execute(f"DROP INDEX {row['name']}")
    return [row["definition"] for row in rows]
