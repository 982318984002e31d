"""`jifen import purchases --merchant M FILE.csv`: a merchant's period-end file of purchases,
posted by the account host as the merchant's advices (back_office/purchase_imports/).

Exit 0 once the file was processed, whatever its lines' outcomes (the report says each);
1 when lines were still pending as the host stopped making progress (run the file again
later: their outcome shows as duplicates); 2 when the file or the merchant is refused whole.
A progress bar on standard error when it is a terminal (and not with --json).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import asyncpg
import msgspec

from back_office.purchase_imports import ImportReport, import_purchases, report_csv
from database.roles import Role
from jifen.commands.card_balance import host_command_wait_s
from jifen.commands.card_lookup import lookup_key_in
from jifen.commands.runner import add_json_option, print_table, run_command
from jifen.errors import CliError

# The file is read whole: FILE_LINES_MAX lines of a hundred bytes.
FILE_SIZE_MAX = 200 * 1024 * 1024
# Lines of the report shown on a terminal (the --report file has them all).
SHOWN_LINES_MAX = 30
_BAR_WIDTH = 40
_SHOWN_COLUMNS = ("line_number", "line_id", "card", "outcome", "result_code", "reason")
EXIT_PENDING = 1


class _Bar:
    """A one-line progress bar on standard error, redrawn at most ten times a second."""

    def __init__(self) -> None:
        self._drawn_at = 0.0
        self._open = False   # a line drawn and not ended

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._drawn_at < 0.1 and done < total:
            return
        self._drawn_at = now
        filled = _BAR_WIDTH * done // max(total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done}/{total}"
                         " lines decided")
        self._open = done < total
        if not self._open:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def end(self) -> None:
        """The line ended, where the host stopped short of the whole file."""
        if self._open:
            sys.stderr.write("\n")
            self._open = False


def _purchases(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        if path.stat().st_size > FILE_SIZE_MAX:
            raise CliError(f"{path} is larger than {FILE_SIZE_MAX // 2**20} MiB: split it")
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    stall_s = args.wait_s if args.wait_s is not None else host_command_wait_s(args)
    progress = _Bar() if sys.stderr.isatty() and not args.json else None

    async def run(conn: asyncpg.Connection) -> ImportReport:
        key = await lookup_key_in(conn, args.config)
        return await import_purchases(conn, key, args.merchant, path.name, data,
                                      stall_s=stall_s, progress=progress)

    try:
        report = run_command(args, Role.BACK_OFFICE, run)
    finally:
        if progress is not None:
            progress.end()
    if args.report:
        try:
            Path(args.report).write_bytes(report_csv(report))
        except OSError as exc:
            raise CliError(f"cannot write {args.report}: {exc.strerror}") from exc
    if args.json:
        # 10^5 lines: msgspec's encoder, not json.dumps (seconds of the run's CPU)
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(report), indent=2).decode())
        sys.stdout.write("\n")
    else:
        _print_summary(report)
    return EXIT_PENDING if report.pending else 0


def _print_summary(report: ImportReport) -> None:
    print(f"import run {report.run_id}: merchant {report.merchant_code}, {report.file_name},"
          f" {report.line_count} lines")
    print(f"  posted {report.posted} ({report.points} points), duplicate {report.duplicate},"
          f" rejected {report.rejected}, pending {report.pending}")
    shown = [line for line in report.lines if line.outcome != "posted"][:SHOWN_LINES_MAX]
    if shown:
        print_table(shown, _SHOWN_COLUMNS)
        if len(shown) < report.line_count - report.posted:
            print(f"  (first {len(shown)} not posted; --report FILE.csv lists every line)")


def register(subparsers: argparse._SubParsersAction) -> None:
    command = subparsers.add_parser(
        "import", help="import a merchant's file (purchases of a shop without POS)")
    actions = command.add_subparsers(dest="action", required=True)
    purchases = add_json_option(actions.add_parser(
        "purchases", help="post a merchant's CSV of purchases as its advices, once per line id"
                          " for ever (docs/back-office.md, 'Importing purchases')"))
    purchases.add_argument("--merchant", required=True, metavar="CODE",
                           help="the merchant's code (field 42)")
    purchases.add_argument("file", metavar="FILE.csv",
                           help="UTF-8 CSV with a header: line_id, pan, amount_fen or"
                                " amount_yuan, business_date or time, [shop], [receipt]")
    purchases.add_argument("--report", metavar="FILE.csv",
                           help="write every line's outcome here (UTF-8 with a BOM)")
    purchases.add_argument("--wait-s", type=float, default=None, metavar="S",
                           help="give up waiting after this long with no line decided"
                                " (default: back_office.host_command_wait_s)")
    purchases.set_defaults(handler=_purchases)
