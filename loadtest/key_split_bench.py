"""`jifen audit`'s `retransmission_key_split` on two partitions of --keys requests each.

    python -m loadtest.key_split_bench [--keys 1000000] [--splits 10] [--runs 3]
                                       [--data-dir DIR] [--json]

Two scratch databases, `main` and `p2`, on one server (the embedded one under --data-dir, or
$JIFEN_DATABASE_URL's), migrated; each `host_requests` gets --keys requests of 10,000
terminals over the last week, no key in both; then --splits of main's keys are reused in p2 an
hour later. The check runs --runs times, each in fresh REPEATABLE READ READ ONLY snapshots as
the audit opens them, timed in all, its two passes apart, and Python's CPU. The machine's load
average is read before and after (the box may be shared): the lower the closer.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import anyio
import asyncpg
import msgspec

from back_office.ledger_check import key_split
from back_office.ledger_check.runner import WORK_MEM_MB
from database.connect import with_database
from database.scratch import fresh_database
from loadtest.bench_database import bench_database_url

DATA_DIR = "var/key-split-bench-pg"
DATABASE_NAME = "jifen_key_split_bench"
KEYS_DEFAULT = 1_000_000
SPLITS_DEFAULT = 10
RUNS_DEFAULT = 3
# Filling 10^6 rows takes seconds; a minute a million is far past a healthy server.
FILL_TIMEOUT_S_PER_MILLION = 60.0

# Keys of one partition: STANs from `$2` up, so that no key is in both; a second apart.
_FILL_SQL = """
INSERT INTO host_requests (terminal_code, mti, stan, transmission_time, content_digest, answer,
                           received_at, card_id)
SELECT format('B%07s', i % 10000), '0200', lpad((i / 10000 + $2)::text, 6, '0'),
       to_char(at, 'MMDDHH24MISS'), substr(sha256(i::text::bytea), 1, 16),
       '\\x9301a23030'::bytea, at, NULL
FROM (SELECT i, now() - interval '7 days' + i * interval '1 s' * (604800.0 / $1) AS at
      FROM generate_series(1, $1) AS i) AS s
"""
_COLUMNS = ["terminal_code", "mti", "stan", "transmission_time", "content_digest", "answer",
            "received_at", "card_id"]
_PLANTED_SQL = """
SELECT terminal_code, mti, stan, transmission_time, content_digest, answer,
       received_at + interval '1 hour', card_id
FROM host_requests ORDER BY received_at LIMIT $1
"""


class Run(msgspec.Struct, frozen=True):
    seconds: float
    pages_s: float
    rows_s: float
    python_cpu_s: float
    splits: int


class Result(msgspec.Struct, frozen=True):
    keys_per_partition: int
    planted: int
    runs: list[Run]
    resident_mb_max: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]


async def _filled(server_url: str, keys: int, splits: int) -> dict[str, str]:
    urls = {}
    for number, name in enumerate(("main", "p2")):
        url = await fresh_database(server_url, f"{DATABASE_NAME}_{name}")
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(_FILL_SQL, keys, number * 500_000,
                                     timeout=FILL_TIMEOUT_S_PER_MILLION * max(1, keys / 1e6))
            await connection.execute("VACUUM ANALYZE host_requests")
        finally:
            await connection.close()
        urls[name] = url
    main = await asyncpg.connect(urls["main"])
    p2 = await asyncpg.connect(urls["p2"])
    try:
        rows = await main.fetch(_PLANTED_SQL, splits)
        await p2.copy_records_to_table("host_requests", records=[tuple(row) for row in rows],
                                       columns=_COLUMNS)
    finally:
        await main.close()
        await p2.close()
    return urls


async def _run(urls: dict[str, str]) -> Run:
    snapshots = {name: await asyncpg.connect(url) for name, url in urls.items()}
    try:
        for connection in snapshots.values():
            await connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            await connection.execute(f"SET LOCAL work_mem = '{WORK_MEM_MB}MB'")
        started, cpu = time.perf_counter(), time.process_time()
        result = await key_split.key_splits(snapshots)
        seconds, python_cpu_s = time.perf_counter() - started, time.process_time() - cpu
        # The passes apart, on the same snapshots (a second time: the pages are warm).
        started = time.perf_counter()
        rows = max([await connection.fetchval("SELECT count(*) FROM host_requests")
                    for connection in snapshots.values()])
        found = await key_split.candidates(snapshots, key_split.page_shift(rows))
        pages_s = time.perf_counter() - started
        started = time.perf_counter()
        await key_split.key_splits_of(snapshots, found)
        rows_s = time.perf_counter() - started
    finally:
        for connection in snapshots.values():
            await connection.close()
    return Run(seconds, pages_s, rows_s, python_cpu_s, result.violation_count)


async def bench(server_url: str, keys: int, splits: int, runs: int) -> Result:
    load_before = os.getloadavg()
    urls = await _filled(server_url, keys, splits)
    measured = [await _run(urls) for _ in range(runs)]
    return Result(keys, splits, measured,
                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, load_before,
                  os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=KEYS_DEFAULT)
    parser.add_argument("--splits", type=int, default=SPLITS_DEFAULT)
    parser.add_argument("--runs", type=int, default=RUNS_DEFAULT)
    parser.add_argument("--data-dir", default=DATA_DIR)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    server_url = with_database(bench_database_url(args.data_dir, DATABASE_NAME), "postgres")
    result = anyio.run(bench, server_url, args.keys, args.splits, args.runs,
                       backend="asyncio")
    if args.json:
        print(msgspec.json.encode(result).decode())
        return
    print(f"{result.keys_per_partition} keys in each of 2 partitions, {result.planted} planted;"
          f" load {result.load_before[0]:.1f} -> {result.load_after[0]:.1f}")
    for run in result.runs:
        print(f"  {run.seconds:.2f} s ({run.splits} splits); pages {run.pages_s:.2f} s, rows"
              f" {run.rows_s:.2f} s; Python CPU {run.python_cpu_s:.2f} s")
    print(f"  resident {result.resident_mb_max:.0f} MB at most")


if __name__ == "__main__":
    main()
