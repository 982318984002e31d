"""The back office's queries on a big journal (issue 17: each under 100 ms on 10^7 postings):
`jifen txn find` and `jifen card statement`, timed by EXPLAIN ANALYZE and by wall time.

    python -m loadtest.query_bench fill [--postings 10000000] [--days 2]
    python -m loadtest.query_bench run [--rounds 200] [--json]
    python -m loadtest.query_bench --data-dir var/commit-bench-pg loop [--seconds 120]

`fill` drops and refills database query_bench on an embedded PostgreSQL of its own (under
--data-dir, left running like the tests' server): `--days` business days of
postings/days postings each (loadtest/journal_gen.py, one new alliance a day), then one
host_requests row per transaction (answered 00) and declined requests (DECLINES_PER_HUNDRED in
a hundred, spread over the days), as the host records them. `run` times each query shape
`--rounds` times on random cards, merchants, terminals, RRNs and dates, and prints p50 and p99
of the server's execution time (EXPLAIN ANALYZE) and of the wall time of the Python call (one
READ ONLY transaction, as the CLI runs it, without starting Python and connecting). `loop`
queries the commit benchmark's database back to back while it runs (docs/performance.md,
"Queries and statements").
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import msgspec

from back_office.queries import (
    CardRef,
    DeclineFilter,
    TransactionFilter,
    card_statement,
    find_declines,
    find_transactions,
)
from back_office.queries.cursor import TransactionKey, encode_cursor
from database import EmbeddedPostgres, fresh_database, with_database
from loadtest.journal_gen import JournalShape, generate_journal

REPO_DIR = Path(__file__).resolve().parents[1]
DATA_DIR_DEFAULT = "var/query-bench-pg"
DATABASE = "query_bench"
POSTINGS_DEFAULT = 10_000_000
DAYS_DEFAULT = 2
# A busy programme declines a few requests in a hundred (51 above all).
DECLINES_PER_HUNDRED = 3
ROUNDS_DEFAULT = 200
# What the issue asks of each query on 10^7 postings.
QUERY_MS_MAX = 100.0
# Loading 10^7 postings takes minutes on 2 cores; far beyond that something hangs.
LOAD_TIMEOUT_S = 3_600.0

# One host_requests row per transaction, its answer as the host encodes it (msgpack, an
# array of 8: correlation id 0, field 39 '00', then nil): what the declines' index skips.
_APPROVED_REQUESTS_SQL = r"""
INSERT INTO host_requests (terminal_code, mti, stan, transmission_time, content_digest,
                           answer, received_at)
SELECT terminal_code, mti, stan, transmission_time, '\x00'::bytea,
       '\x9800a23030c0c0c0c0c0c0'::bytea, posted_at
FROM transactions
ON CONFLICT DO NOTHING
"""
# Declined requests of the alliance's terminals, over the journal's time span, with STANs
# no transaction uses (9xxxxx), answered 51, 05 or 14.
_DECLINED_REQUESTS_SQL = r"""
WITH span AS (SELECT min(posted_at) AS first, max(posted_at) AS last FROM transactions),
terminals AS (SELECT array_agg(terminal_code) AS codes FROM terminals)
INSERT INTO host_requests (terminal_code, mti, stan, transmission_time, content_digest,
                           answer, received_at)
SELECT codes[1 + n % cardinality(codes)], '0200', lpad((900000 + n / 10000)::text, 6, '0'),
       lpad((n % 10000)::text, 10, '0'), '\x00'::bytea,
       ('\x9800a2'::bytea || convert_to((ARRAY['51', '05', '14'])[1 + n % 3], 'UTF8')
        || '\xc0c0c0c0c0c0'::bytea),
       first + (last - first) * (n::float8 / $1)
FROM span, terminals, generate_series(1, $1) AS n
ON CONFLICT DO NOTHING
"""


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        print(f"\rgenerating: {done:,} of {total:,} postings", end="", file=sys.stderr)


async def fill(server_url: str, postings: int, days: int, last_date: date) -> None:
    url = await fresh_database(server_url, DATABASE)
    connection = await asyncpg.connect(url)
    try:
        with anyio.fail_after(LOAD_TIMEOUT_S):
            for day in range(days):
                business_date = last_date - timedelta(days=days - 1 - day)
                shape = JournalShape(business_date=business_date, postings=postings // days,
                                     alliance_code=f"QB{day + 1}", seed=day + 1)
                summary = await generate_journal(connection, shape, _progress)
                print(f"\n{business_date}: {summary.postings:,} postings, "
                      f"{summary.transactions:,} transactions in {summary.load_s:.1f} s "
                      f"(+ VACUUM ANALYZE {summary.analyze_s:.1f} s)", flush=True)
            started = time.perf_counter()
            transactions = await connection.fetchval("SELECT count(*) FROM transactions")
            await connection.execute(_APPROVED_REQUESTS_SQL)
            declined = transactions * DECLINES_PER_HUNDRED // 100
            await connection.execute(_DECLINED_REQUESTS_SQL, declined)
            await connection.execute("VACUUM ANALYZE host_requests")
            print(f"host_requests: {transactions:,} approved, {declined:,} declined, in "
                  f"{time.perf_counter() - started:.1f} s")
    finally:
        await connection.close()


class _Recorder:
    """The connection a query is given: passes everything on and notes each SELECT it sends
    (text and arguments), to be EXPLAIN ANALYZEd afterwards, and when the query opened its
    transaction (the wall time starts there: choosing the random inputs is not timed)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection
        self.statements: list[tuple[str, tuple[object, ...]]] = []
        self.started: float | None = None

    def __getattr__(self, name: str) -> Any:
        if name == "transaction" and self.started is None:
            self.started = time.perf_counter()
        return getattr(self._connection, name)

    async def fetch(self, query: str, *args: object) -> Any:
        self.statements.append((query, args))
        return await self._connection.fetch(query, *args)

    async def fetchrow(self, query: str, *args: object) -> Any:
        self.statements.append((query, args))
        return await self._connection.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: object) -> Any:
        self.statements.append((query, args))
        return await self._connection.fetchval(query, *args)


class Figures(msgspec.Struct):
    rounds: int
    rows_mean: float
    wall_ms_p50: float
    wall_ms_p99: float
    server_ms_p50: float       # EXPLAIN ANALYZE's execution time, the query's statements
    server_ms_p99: float
    plan: str                  # the plan's top index scans, for the note


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _scans(plan: dict[str, Any]) -> list[str]:
    found = []
    if "Index Name" in plan:
        found.append(f"{plan['Node Type']} {plan['Index Name']}")
    elif plan.get("Node Type") == "Seq Scan":
        found.append(f"Seq Scan {plan['Relation Name']}")
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


async def _explain(connection: asyncpg.Connection, statements: list[tuple[str, tuple[
        object, ...]]]) -> tuple[float, list[str]]:
    total_ms, scans = 0.0, []
    async with connection.transaction(readonly=True):
        for query, args in statements:
            result = await connection.fetchval(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {query}", *args)
            plan = json.loads(result)[0]
            total_ms += plan["Execution Time"] + plan["Planning Time"]
            scans += _scans(plan["Plan"])
    return total_ms, scans


Shape = Callable[[Any, random.Random], Awaitable[int]]


async def _shapes(connection: asyncpg.Connection) -> dict[str, Shape]:
    """Each query shape: a function of (connection, random) that runs it, its row count."""
    bounds = await connection.fetchrow(
        "SELECT min(id) AS card_low, max(id) AS card_high FROM cards")
    merchants = [row["merchant_code"] for row in await connection.fetch(
        "SELECT merchant_code FROM merchants")]
    terminals = [row["terminal_code"] for row in await connection.fetch(
        "SELECT terminal_code FROM terminals")]
    ids = await connection.fetchrow("SELECT min(id) AS low, max(id) AS high FROM transactions")
    dates = [row["business_date"] for row in await connection.fetch(
        "SELECT DISTINCT business_date FROM transactions ORDER BY 1")]
    span = await connection.fetchrow(
        "SELECT min(posted_at) AS first, max(posted_at) AS last FROM transactions")
    heavy_card = await connection.fetchval(
        "SELECT card_id FROM transactions WHERE card_id IS NOT NULL "
        "AND business_date = $1 GROUP BY card_id ORDER BY count(*) DESC LIMIT 1", dates[-1])
    assert bounds is not None and ids is not None and span is not None, "aggregates give a row"

    def card(generator: random.Random) -> int:
        return generator.randint(bounds["card_low"], bounds["card_high"])

    async def transaction_near(conn: Any, generator: random.Random) -> asyncpg.Record:
        rows = await connection.fetch(
            "SELECT id, business_date, rrn, merchant_id FROM transactions WHERE id >= $1 "
            "ORDER BY id LIMIT 20", generator.randint(ids["low"], ids["high"]))
        with_rrn = [row for row in rows if row["rrn"] is not None]
        return with_rrn[0] if with_rrn else rows[0]

    def moment(generator: random.Random) -> datetime:
        return span["first"] + (span["last"] - span["first"]) * generator.random()

    async def page(conn: Any, query: TransactionFilter, after: str | None = None) -> int:
        return len((await find_transactions(conn, query, after=after)).rows)

    async def by_card(conn: Any, generator: random.Random) -> int:
        return await page(conn, TransactionFilter(card_ids=(card(generator),)))

    async def by_merchant(conn: Any, generator: random.Random) -> int:
        return await page(conn, TransactionFilter(merchant_code=generator.choice(merchants)))

    async def by_merchant_deep_page(conn: Any, generator: random.Random) -> int:
        near = await transaction_near(conn, generator)
        code = await connection.fetchval("SELECT merchant_code FROM merchants WHERE id = $1",
                                         near["merchant_id"])
        after = encode_cursor(TransactionKey(near["business_date"], near["id"]))
        return await page(conn, TransactionFilter(merchant_code=code), after)

    async def by_terminal_and_date(conn: Any, generator: random.Random) -> int:
        day = generator.choice(dates)
        return await page(conn, TransactionFilter(
            terminal_code=generator.choice(terminals), business_date_from=day,
            business_date_to=day))

    async def by_rrn(conn: Any, generator: random.Random) -> int:
        near = await transaction_near(conn, generator)
        return await page(conn, TransactionFilter(rrn=near["rrn"]))

    async def by_business_date(conn: Any, generator: random.Random) -> int:
        day = generator.choice(dates)
        return await page(conn, TransactionFilter(business_date_from=day, business_date_to=day))

    async def by_utc_hour(conn: Any, generator: random.Random) -> int:
        start = moment(generator)
        return await page(conn, TransactionFilter(posted_from=start,
                                                  posted_before=start + timedelta(hours=1)))

    async def declined(conn: Any, generator: random.Random) -> int:
        return len((await find_declines(conn, DeclineFilter(
            response_code=generator.choice(["51", "05", "14"])))).rows)

    async def declined_at_terminal(conn: Any, generator: random.Random) -> int:
        return len((await find_declines(conn, DeclineFilter(
            terminal_code=generator.choice(terminals)))).rows)

    async def statement_of(conn: Any, card_id: int) -> int:
        reference = CardRef(card_id, "000000******0000", 0, "active")
        return len((await card_statement(conn, reference, dates[0], dates[-1])).lines)

    async def statement(conn: Any, generator: random.Random) -> int:
        return await statement_of(conn, card(generator))

    async def statement_heaviest_card(conn: Any, generator: random.Random) -> int:
        return await statement_of(conn, heavy_card)

    return {
        "txn find --pan": by_card,
        "txn find --merchant": by_merchant,
        "txn find --merchant --after (a page deep in)": by_merchant_deep_page,
        "txn find --terminal --from D --to D": by_terminal_and_date,
        "txn find --rrn": by_rrn,
        "txn find --from D --to D": by_business_date,
        "txn find --since T --until T+1h": by_utc_hour,
        "txn find --response-code NN": declined,
        "txn find --declined --terminal": declined_at_terminal,
        "card statement (2 days)": statement,
        "card statement, the busiest card": statement_heaviest_card,
    }


async def run_bench(url: str, rounds: int, seed: int) -> dict[str, Figures]:
    connection = await asyncpg.connect(url)
    try:
        journal = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM postings) AS postings, "
            "(SELECT count(*) FROM transactions) AS transactions, "
            "(SELECT count(*) FROM host_requests) AS requests")
        assert journal is not None, "a SELECT of aggregates gives a row"
        print(f"journal: {journal['postings']:,} postings, {journal['transactions']:,} "
              f"transactions, {journal['requests']:,} host_requests; {rounds} rounds a shape")
        results = {}
        for name, shape in (await _shapes(connection)).items():
            generator = random.Random(seed)
            walls, servers, rows, scans = [], [], 0, set()
            for _ in range(rounds):
                recorder = _Recorder(connection)
                rows += await shape(recorder, generator)
                assert recorder.started is not None, "every query opens its transaction"
                walls.append((time.perf_counter() - recorder.started) * 1_000)
                server_ms, found = await _explain(connection, recorder.statements)
                servers.append(server_ms)
                scans.update(found)
            figures = Figures(rounds, rows / rounds, _percentile(walls, 0.5),
                              _percentile(walls, 0.99), _percentile(servers, 0.5),
                              _percentile(servers, 0.99), ", ".join(sorted(scans)))
            results[name] = figures
            print(f"{name:48} rows {figures.rows_mean:7.1f}  wall p50 {figures.wall_ms_p50:6.1f}"
                  f" p99 {figures.wall_ms_p99:6.1f} ms  server p50 {figures.server_ms_p50:6.1f}"
                  f" p99 {figures.server_ms_p99:6.1f} ms", flush=True)
    finally:
        await connection.close()
    return results


# The host's batch statement (account_host/journal.py), if it is running: on CPU, or waiting.
_WRITER_STATE_SQL = """
SELECT coalesce(wait_event_type || ':' || wait_event, 'running') AS state
FROM pg_stat_activity
WHERE state = 'active' AND query LIKE '%accounts_written AS%' AND pid <> pg_backend_pid()
"""


async def query_loop(url: str, seconds: float, rate: float, stop_file: Path | None) -> None:
    """For `seconds`: a card's statement, its transactions and a merchant's first page, on
    random cards of the database at `url` (the commit benchmark's while it runs: does the
    writer's group commit slow down?), `rate` queries a second, or back to back if 0. Waits
    for the journal to exist, and again whenever the benchmark drops and refills it. Ends
    early when `stop_file` appears."""
    deadline = time.monotonic() + seconds
    generator = random.Random(1)
    tally = [0]
    waits: Counter[str] = Counter()
    started = time.monotonic()

    def going() -> bool:
        return time.monotonic() < deadline and not (stop_file and stop_file.exists())

    while going():
        try:
            connection = await asyncpg.connect(url)
        except (OSError, asyncpg.PostgresError):
            await anyio.sleep(0.2)
            continue
        try:
            await _query_session(connection, generator, going, rate, started, tally, waits)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await anyio.sleep(0.2)   # the benchmark dropped its database: wait for the next
        finally:
            await connection.close()
    elapsed_s = time.monotonic() - started
    print(f"{tally[0]:,} queries in {elapsed_s:.1f} s: {tally[0] / elapsed_s:,.0f} a second")
    print("the writer's statement, sampled after each round of queries: "
          + ", ".join(f"{state} {count}" for state, count in waits.most_common()))


async def _query_session(connection: asyncpg.Connection, generator: random.Random,
                         going: Callable[[], bool], rate: float, started: float,
                         tally: list[int], waits: Counter[str]) -> None:
    """Queries on one connection while `going()`, counted in tally[0]; after each round, what
    the writer's batch statement is doing (running, or waiting on what: a Lock would be a
    query in its way), counted in `waits`."""
    if not await connection.fetchval("SELECT count(*) > 0 FROM transactions"):
        await anyio.sleep(0.2)
        return
    bounds = await connection.fetchrow("SELECT min(id) AS low, max(id) AS high FROM cards")
    merchants = [row["merchant_code"] for row in await connection.fetch(
        "SELECT merchant_code FROM merchants")]
    assert bounds is not None, "an aggregate gives a row"
    today = datetime.now(UTC).date()
    while going():
        if rate > 0:
            await anyio.sleep(max(0.0, started + tally[0] / rate - time.monotonic()))
        card_id = generator.randint(bounds["low"], bounds["high"])
        reference = CardRef(card_id, "000000******0000", 0, "active")
        await card_statement(connection, reference, today - timedelta(days=30), today)
        await find_transactions(connection, TransactionFilter(card_ids=(card_id,)))
        await find_transactions(connection, TransactionFilter(
            merchant_code=generator.choice(merchants)))
        tally[0] += 3
        for row in await connection.fetch(_WRITER_STATE_SQL):
            waits[row["state"]] += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.query_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=DATA_DIR_DEFAULT,
                        help=f"embedded PostgreSQL (default {DATA_DIR_DEFAULT})")
    actions = parser.add_subparsers(dest="action", required=True)
    filling = actions.add_parser("fill", help="generate the journal (drops query_bench)")
    filling.add_argument("--postings", type=int, default=POSTINGS_DEFAULT)
    filling.add_argument("--days", type=int, default=DAYS_DEFAULT)
    looping = actions.add_parser(
        "loop", help="query another database back to back (the commit benchmark's)")
    looping.add_argument("--database", default="commit_bench")
    looping.add_argument("--seconds", type=float, default=60.0)
    looping.add_argument("--stop-file", type=Path, help="end when this file appears")
    looping.add_argument("--rate", type=float, default=0.0,
                         help="queries a second (default 0: back to back)")
    running = actions.add_parser("run", help="time the queries")
    running.add_argument("--rounds", type=int, default=ROUNDS_DEFAULT)
    running.add_argument("--seed", type=int, default=1)
    running.add_argument("--json", action="store_true", help="the figures as JSON")
    args = parser.parse_args(argv)
    server_url = EmbeddedPostgres(REPO_DIR / args.data_dir).ensure_running()
    if args.action == "loop":
        anyio.run(query_loop, with_database(server_url, args.database), args.seconds,
                  args.rate, args.stop_file)
        return 0
    if args.action == "fill":
        last_date = datetime.now(UTC).date() - timedelta(days=3)
        anyio.run(fill, server_url, args.postings, args.days, last_date)
        return 0
    results = anyio.run(run_bench, with_database(server_url, DATABASE), args.rounds, args.seed)
    if args.json:
        print(json.dumps(msgspec.to_builtins(results), indent=2))
    else:
        for name, figures in results.items():
            print(f"{name}: {figures.plan}")
    over = [name for name, figures in results.items() if figures.wall_ms_p99 >= QUERY_MS_MAX]
    print("every p99 within" if not over else f"OVER at p99: {', '.join(over)}",
          f"{QUERY_MS_MAX:.0f} ms")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
