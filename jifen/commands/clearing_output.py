"""`jifen clearing report | settlement-files | nightly`: what clearing hands to people (the
report, the settlement files) and the nightly job that seals, clears and writes them.

Registered into `jifen clearing` by jifen/commands/clearing.py (ACTIONS). Refusals (unknown
alliance, merchant or date, a date not sealed or not cleared) exit 1 with a message; the
nightly exits 1 when any alliance failed, and writes its metrics file in every case.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import anyio
import asyncpg

from clearing import parse_date
from clearing.errors import ClearingError
from clearing.files import write_settlement_files
from clearing.nightly import (
    METRICS_FILE_DEFAULT,
    NightlyMetrics,
    NightlyOutcome,
    nightly_alliance,
    write_atomically,
)
from clearing.partitions import PartitionSetup
from clearing.reports import FORMATS, build_report, render_csv, render_json, render_table
from database.connect import connect, resolve_database_url
from database.errors import DatabaseError
from database.roles import Role
from jifen.commands.runner import partition_setup, print_json, run_command
from runtime.config import load_config

EXIT_FAILED = 1
# The label of the metrics when not even the list of alliances could be read.
ALL_ALLIANCES = "ALL"


def _report(args: argparse.Namespace) -> int:
    day = parse_date(args.date)
    partitions = partition_setup(load_config(args.config))
    report = run_command(args, Role.CLEARING, lambda conn: build_report(
        conn, args.alliance, day, args.merchant, partitions=partitions))
    if args.format == "json":
        content = render_json(report)
    elif args.format == "csv":
        # With a byte order mark in a file, for spreadsheets; none on a terminal or pipe.
        content = render_csv(report).encode("utf-8-sig" if args.out else "utf-8")
    else:
        content = render_table(report).encode()
    if args.out:
        write_atomically(Path(args.out), content)
    else:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
    return 0


def _settlement_files(args: argparse.Namespace) -> int:
    day = parse_date(args.date)
    partitions = partition_setup(load_config(args.config))
    report = run_command(args, Role.CLEARING, lambda conn: build_report(
        conn, args.alliance, day, partitions=partitions))
    for path in write_settlement_files(report, Path(args.out)):
        print(path)
    return 0


def _nightly(args: argparse.Namespace) -> int:
    day = parse_date(args.date) if args.date else None
    config = load_config(args.config)
    metrics = NightlyMetrics(Path(args.metrics_file))
    outcomes: list[NightlyOutcome] = []
    failures = anyio.run(_nightly_all, resolve_database_url(config.database, Role.CLEARING),
                         config.database.connect_timeout_s, args.alliance, day,
                         Path(args.out), metrics, outcomes, partition_setup(config),
                         backend="asyncio")
    metrics.write()
    if args.json:
        print_json(outcomes)
    else:
        for outcome in outcomes:
            did = ", ".join(what for what, done in (("sealed", outcome.sealed_now),
                                                    ("cleared", outcome.cleared_now)) if done)
            print(f"{outcome.alliance} {outcome.business_date}: {did or 'already cleared'}; "
                  f"runs {outcome.run_ids}; {len(outcome.files)} files in "
                  f"{outcome.directory}")
    for alliance, message in failures:
        print(f"jifen: error: nightly clearing of {alliance} failed: {message}",
              file=sys.stderr)
    return EXIT_FAILED if failures else 0


async def _nightly_all(
    url: str, connect_timeout_s: float, alliance: str | None, day: date | None, out_dir: Path,
    metrics: NightlyMetrics, outcomes: list[NightlyOutcome], partitions: PartitionSetup,
) -> list[tuple[str, str]]:
    """Each alliance in turn, one failing not stopping the others; the failures."""
    started_s = time.monotonic()
    failures: list[tuple[str, str]] = []
    try:
        conn = await connect(url, connect_timeout_s)
    except (OSError, asyncpg.PostgresError, DatabaseError) as exc:
        failures.append((alliance or ALL_ALLIANCES, f"cannot reach the database: {exc}"))
        metrics.record(alliance or ALL_ALLIANCES, True, time.time(),
                       time.monotonic() - started_s)
        return failures
    try:
        codes = [alliance] if alliance else [
            row["code"] for row in await conn.fetch("SELECT code FROM alliances ORDER BY code")]
        for code in codes:
            began_s = time.monotonic()
            try:
                outcomes.append(await nightly_alliance(conn, code, day, out_dir,
                                                       datetime.now(UTC), partitions))
                failed = False
            except (ClearingError, DatabaseError, asyncpg.PostgresError, OSError) as exc:
                failures.append((code, str(exc)))
                failed = True
            metrics.record(code, failed, time.time(), time.monotonic() - began_s)
    finally:
        await conn.close()
    return failures


def register_report(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "report", help="a cleared date's report: HQ summary, merchant detail, terminal batches",
        description="The HQ summary (总帐), each merchant's detail (明细) with its net and "
                    "settlement, and the terminal batches of the date out of balance or never "
                    "reconciled. Runs and adjustments show as original + adjustments = final. "
                    "Amounts in yuan in the table and CSV, integer fen in JSON.")
    parser.add_argument("--alliance", required=True, help="alliance code")
    parser.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="business date")
    parser.add_argument("--merchant", help="only this merchant (code, field 42); no summary")
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="table (default), csv or json")
    parser.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    parser.set_defaults(handler=_report)


def register_settlement_files(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "settlement-files", help="a cleared date's settlement CSVs: one per merchant, one HQ",
        description="CSV files for spreadsheets (UTF-8 with BOM, amounts in yuan with two "
                    "decimals): <alliance>_<date>_<merchant>.csv and <alliance>_<date>_HQ.csv.")
    parser.add_argument("--alliance", required=True, help="alliance code")
    parser.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="business date")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write to")
    parser.set_defaults(handler=_settlement_files)


def register_nightly(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "nightly", help="seal, clear and write reports of the date that just closed",
        description="For each alliance (or --alliance): seal the date if it is not sealed, "
                    "clear it if it is not cleared, write report.txt/.csv/.json and the "
                    "settlement files to OUT/<alliance>/<date>/. Safe to repeat. Exit 1 if "
                    "any alliance failed; the metrics file is written in every case.")
    parser.add_argument("--alliance", help="alliance code (default: every alliance)")
    parser.add_argument("--date", metavar="YYYY-MM-DD",
                        help="business date (default: the one that closed at the last cutover)")
    parser.add_argument("--out", required=True, metavar="DIR", help="reports directory")
    parser.add_argument("--metrics-file", default=METRICS_FILE_DEFAULT, metavar="FILE",
                        help="Prometheus textfile-collector file (default "
                             f"{METRICS_FILE_DEFAULT})")
    parser.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    parser.set_defaults(handler=_nightly)


ACTIONS = [register_report, register_settlement_files, register_nightly]
