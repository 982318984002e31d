"""`jifen report daily`: the daily digest (日报) of an alliance's business date, read only over
every partition (clearing/digest/, docs/reports.md).

Formats: an aligned table on a terminal, CSV (`--format csv`, or `--csv FILE` with a byte
order mark, as Excel in China expects), JSON (`--json` or `--format json`, integer fen).
`--trend N` adds the last N dates; `--png FILE` draws them, or a PNG is written beside the
`--out`/`--csv` file. Refusals (unknown alliance, a partition that does not answer) exit 1.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from clearing import parse_date
from clearing.digest import (
    FORMATS,
    TREND_DAYS_MAX,
    build_digest,
    render_csv,
    render_json,
    render_png,
    render_table,
)
from clearing.nightly import write_atomically
from database.roles import Role
from jifen.commands.runner import partition_setup, run_command
from jifen.errors import CliError
from runtime.config import load_config

TREND_DAYS_DEFAULT = 30


def _daily(args: argparse.Namespace) -> int:
    day = parse_date(args.date)
    output_format = "json" if args.json else "csv" if args.csv else args.format
    out = args.csv or args.out
    png = _png_path(args, out)
    setup = partition_setup(load_config(args.config))
    digest = run_command(args, Role.CLEARING, lambda conn: build_digest(
        conn, args.alliance, day, datetime.now(UTC), setup, args.trend or 0))
    if output_format == "json":
        content = render_json(digest)
    elif output_format == "csv":
        # With a byte order mark in a file, for spreadsheets; none on a terminal or pipe.
        content = render_csv(digest).encode("utf-8-sig" if out else "utf-8")
    else:
        content = render_table(digest).encode()
    if png is not None:
        write_atomically(png, render_png(digest))
    if out:
        write_atomically(Path(out), content)
    else:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
    return 0


def _png_path(args: argparse.Namespace, out: str | None) -> Path | None:
    """Where the trend's chart goes: --png, else beside the output file; refused before
    anything is read when it has nowhere to go."""
    if args.trend is not None and not 1 <= args.trend <= TREND_DAYS_MAX:
        raise CliError(f"--trend {args.trend}: give 1 to {TREND_DAYS_MAX} days")
    if args.png and args.trend is None:
        raise CliError("--png draws the trend: add --trend DAYS")
    if args.trend is None:
        return None
    if args.png:
        return Path(args.png)
    if out:
        return Path(out).with_suffix(".png")
    raise CliError("--trend draws a chart: name its file with --png FILE (or write the "
                   "digest to a file with --out or --csv, and the chart goes beside it)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="reports for people: the daily digest (日报)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    daily = actions.add_parser(
        "daily", help="an alliance's business date at a glance (日报)",
        description="Members active and new, points issued, redeemed and expired, stored "
                    "value loaded and spent, the top merchants, the points liability (in "
                    "points and at the alliance's issue price), the terminals that did not "
                    "reconcile; read only, over every partition. Points and fen as integers "
                    "in JSON; yuan with two decimals in the table and CSV.")
    daily.add_argument("--alliance", required=True, help="alliance code")
    daily.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="business date")
    daily.add_argument("--format", choices=FORMATS, default="table",
                       help="table (default), csv or json")
    shortcut = daily.add_mutually_exclusive_group()
    shortcut.add_argument("--json", action="store_true", help="print JSON (as --format json)")
    shortcut.add_argument("--csv", metavar="FILE",
                          help="write CSV with a byte order mark to FILE (for spreadsheets)")
    daily.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    daily.add_argument("--trend", type=int, metavar="DAYS", nargs="?",
                       const=TREND_DAYS_DEFAULT,
                       help=f"add the last DAYS dates (default {TREND_DAYS_DEFAULT}) and "
                            "draw them as a PNG chart")
    daily.add_argument("--png", metavar="FILE",
                       help="the trend's chart (default: beside --out or --csv, as .png)")
    daily.set_defaults(handler=_daily)
