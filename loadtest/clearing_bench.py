"""The clearing benchmark (issue 6: clearing 10^7 journal rows takes < 60 s): a synthetic
business day of that many postings (loadtest/journal_gen.py), then `jifen clearing close-day`,
`jifen clearing run` and `jifen clearing report` timed as an operator runs them.

    python -m loadtest.clearing_bench [--postings 10000000] [--date YYYY-MM-DD]
                                      [--data-dir var/clearing-bench-pg] [--rerun]

The embedded PostgreSQL under --data-dir is its own (never the tests' or `jifen up`'s); it is
left running, like the tests' server. Each run drops and refills database clearing_bench;
--rerun keeps its journal and only deletes the date's seal and clearing, to time the clearing
again (after a change of index or query). The commands run as subprocesses with
$JIFEN_DATABASE_URL, so the figures include starting Python, as an operator sees them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import anyio
import asyncpg

from database import EmbeddedPostgres, fresh_database, with_database
from loadtest.journal_gen import JournalShape, generate_journal

REPO_DIR = Path(__file__).resolve().parents[1]
DATA_DIR_DEFAULT = "var/clearing-bench-pg"
DATABASE = "clearing_bench"
ALLIANCE = "BENCH"
POSTINGS_DEFAULT = 10_000_000
# What the issue asks of `jifen clearing run` on 10^7 journal rows.
RUN_S_MAX = 60.0
# The alliance's rule for the day: 1 fen per point issued, 0.8 fen per point redeemed, HQ's
# commission 0.5 % of what it pays out: every category clears to a non-zero amount.
_RULE_SQL = """
INSERT INTO settlement_rules (alliance_id, merchant_id, effective_from, issue_price_fen,
                              redemption_rate_fen, commission_bp)
SELECT id, NULL, DATE '2000-01-01', 1, 0.8, 50 FROM alliances WHERE code = $1
"""
_UNCLEAR_SQL = """
WITH alliance AS (SELECT id FROM alliances WHERE code = $1),
runs AS (SELECT r.id FROM clearing_runs r, alliance a
         WHERE r.alliance_id = a.id AND r.business_date = $2),
instructions AS (DELETE FROM settlement_instructions WHERE run_id IN (SELECT id FROM runs)),
nets AS (DELETE FROM clearing_nets WHERE run_id IN (SELECT id FROM runs)),
positions AS (DELETE FROM clearing_positions WHERE run_id IN (SELECT id FROM runs))
SELECT 1
"""
# Loading 10^7 postings takes minutes on 2 cores; far beyond that something hangs.
LOAD_TIMEOUT_S = 3_600.0


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        print(f"\rgenerating: {done:,} of {total:,} postings", end="", file=sys.stderr)


async def _fill(server_url: str, shape: JournalShape) -> None:
    url = await fresh_database(server_url, DATABASE)
    connection = await asyncpg.connect(url)
    try:
        with anyio.fail_after(LOAD_TIMEOUT_S):
            summary = await generate_journal(connection, shape, _progress)
        await connection.execute(_RULE_SQL, shape.alliance_code)
    finally:
        await connection.close()
    print(f"\ngenerated {summary.postings:,} postings, {summary.entries:,} entries, "
          f"{summary.transactions:,} transactions, {summary.accounts:,} accounts of "
          f"{summary.business_date} in {summary.load_s:.1f} s (+ VACUUM ANALYZE "
          f"{summary.analyze_s:.1f} s)")
    print("  kinds: " + ", ".join(f"{kind} {count:,}" for kind, count
                                  in sorted(summary.kinds.items())))


async def _unclear(url: str, day: date) -> None:
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute(_UNCLEAR_SQL, ALLIANCE, day)
            await connection.execute(
                "DELETE FROM clearing_runs WHERE business_date = $1 AND alliance_id = "
                "(SELECT id FROM alliances WHERE code = $2)", day, ALLIANCE)
            await connection.execute(
                "DELETE FROM business_days WHERE business_date = $1 AND alliance_id = "
                "(SELECT id FROM alliances WHERE code = $2)", day, ALLIANCE)
    finally:
        await connection.close()


def _timed(url: str, *arguments: str) -> float:
    """Run `jifen ARGUMENTS` against the bench database; its wall time in seconds."""
    environment = dict(os.environ, JIFEN_DATABASE_URL=url)
    environment.pop("JIFEN_CONFIG", None)
    command = [sys.executable, "-m", "jifen.cli", *arguments]
    started = time.perf_counter()
    completed = subprocess.run(command, env=environment, cwd=REPO_DIR, capture_output=True,
                               text=True, check=False)
    elapsed_s = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"jifen {' '.join(arguments)} failed ({completed.returncode}):\n"
                 f"{completed.stderr}")
    print(f"jifen {' '.join(arguments)}: {elapsed_s:.1f} s")
    return elapsed_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.clearing_bench",
                                     description=__doc__.split("\n\n")[0])
    default_date = datetime.now(UTC).date() - timedelta(days=3)
    parser.add_argument("--postings", type=int, default=POSTINGS_DEFAULT,
                        help=f"journal rows of the day (default {POSTINGS_DEFAULT:,})")
    parser.add_argument("--date", type=date.fromisoformat, default=default_date,
                        help="business date (default: three days ago)")
    parser.add_argument("--data-dir", default=DATA_DIR_DEFAULT,
                        help=f"embedded PostgreSQL (default {DATA_DIR_DEFAULT})")
    parser.add_argument("--rerun", action="store_true",
                        help="keep the journal; clear the date again")
    args = parser.parse_args(argv)
    server_url = EmbeddedPostgres(REPO_DIR / args.data_dir).ensure_running()
    url = with_database(server_url, DATABASE)
    day = args.date
    if args.rerun:
        anyio.run(_unclear, url, day)
    else:
        shape = JournalShape(business_date=day, postings=args.postings, alliance_code=ALLIANCE)
        anyio.run(_fill, server_url, shape)
    _timed(url, "clearing", "close-day", "--alliance", ALLIANCE, "--date", str(day))
    run_s = _timed(url, "clearing", "run", "--alliance", ALLIANCE, "--date", str(day),
                   "--json")
    _report_timing(url, day)
    verdict = "within" if run_s < RUN_S_MAX else "OVER"
    print(f"clearing run: {run_s:.1f} s, {verdict} the {RUN_S_MAX:.0f} s of issue 6")
    return 0 if run_s < RUN_S_MAX else 1


def _report_timing(url: str, day: date) -> None:
    with tempfile.TemporaryDirectory() as directory:
        _timed(url, "clearing", "report", "--alliance", ALLIANCE, "--date", str(day),
               "--format", "json", "--out", str(Path(directory) / "report.json"))


if __name__ == "__main__":
    sys.exit(main())
