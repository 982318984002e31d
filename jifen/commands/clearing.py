"""`jifen clearing`: seal business dates and clear them (docs/clearing.md).

Each action is registered by a small function in ACTIONS, so that more (reports, settlement
files, the nightly run) plug in the same way. Refusals (not sealed, already cleared, unknown
alliance or date) exit 1 with a message; `verify` exits 1 when the stored runs differ.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable
from datetime import UTC, datetime

from clearing import (
    ProgressBar,
    RunResult,
    VerifyResult,
    adjust_clearing,
    clearing_status,
    close_day,
    format_fen,
    parse_date,
    run_clearing,
    verify_clearing,
)
from database.roles import Role
from jifen.commands import clearing_output
from jifen.commands.runner import (
    add_json_option,
    partition_setup,
    print_json,
    print_table,
    run_command,
)
from runtime.config import load_config

EXIT_DIFFERS = 1


def _close_day(args: argparse.Namespace) -> int:
    day = parse_date(args.date)
    partitions = partition_setup(load_config(args.config))
    sealed = run_command(args, Role.CLEARING, lambda conn: close_day(
        conn, args.alliance, day, datetime.now(UTC), args.by or getpass.getuser(),
        partitions))
    if args.json:
        print_json(sealed)
    else:
        print(f"sealed {sealed.business_date} of alliance {sealed.alliance_code} at "
              f"{sealed.sealed_at.isoformat(timespec='seconds')} by {sealed.sealed_by}")
    return 0


def _run(args: argparse.Namespace) -> int:
    day = parse_date(args.date)
    progress = ProgressBar(f"clearing {day}")
    partitions = partition_setup(load_config(args.config))
    result = run_command(args, Role.CLEARING, lambda conn: run_clearing(
        conn, args.alliance, day, progress, partitions))
    _print_run(result, args.json)
    return 0


def _adjust(args: argparse.Namespace) -> int:
    day = parse_date(args.date)
    progress = ProgressBar(f"recomputing {day}")
    partitions = partition_setup(load_config(args.config))
    result = run_command(args, Role.CLEARING, lambda conn: adjust_clearing(
        conn, args.alliance, day, args.reason, progress, partitions))
    if result is None:
        if args.json:
            print_json({"alliance": args.alliance, "business_date": day, "run_id": None})
        else:
            print(f"nothing to adjust: {day} of alliance {args.alliance} recomputes to what "
                  f"its runs hold")
        return 0
    _print_run(result, args.json)
    return 0


def _verify(args: argparse.Namespace) -> int:
    day = parse_date(args.date)
    progress = ProgressBar(f"recomputing {day}")
    partitions = partition_setup(load_config(args.config))
    result = run_command(args, Role.CLEARING, lambda conn: verify_clearing(
        conn, args.alliance, day, progress, partitions))
    if args.json:
        print_json(result)
    else:
        print(format_verify(result))
    return 0 if result.identical else EXIT_DIFFERS


def _status(args: argparse.Namespace) -> int:
    partitions = partition_setup(load_config(args.config))
    statuses = run_command(args, Role.CLEARING, lambda conn: clearing_status(
        conn, args.alliance, partitions))
    if args.json:
        print_json(statuses)
    else:
        print_table(statuses, ("alliance", "business_date", "state", "sealed_at", "run_id",
                               "adjustments"))
    return 0


def _print_run(result: RunResult, as_json: bool) -> None:
    if as_json:
        print_json(result)
    else:
        print(format_run(result))


def format_run(result: RunResult) -> str:
    what = ("clearing run" if result.kind == "run"
            else f"adjustment of run {result.adjusts_run_id} (deltas)")
    lines = [f"{what} {result.run_id}: alliance {result.alliance}, {result.business_date}, "
             f"{result.journal_entries} journal entries of the date read in "
             f"{result.elapsed_ms} ms", "", "positions (amounts in yuan; + HQ pays the merchant):"]
    if len(result.partitions) > 1:
        lines[1:1] = [f"partitions read: {', '.join(result.partitions)}"]
    lines += [f"  {p.merchant:<15}  {p.category:<19}  points {p.points:>12}  "
              f"{format_fen(p.amount_fen):>14}  ({p.count})" for p in result.positions]
    lines += ["", "nets (+ receives, - pays):"]
    lines += [f"  {net.party:<15}  {format_fen(net.net_fen):>14}" for net in result.nets]
    lines += ["", "settlement instructions:"]
    lines += [f"  {i.payer:<15} pays {i.payee:<15}  {format_fen(i.amount_fen):>14}"
              for i in result.instructions] or ["  (none)"]
    return "\n".join(lines)


def format_verify(result: VerifyResult) -> str:
    runs = ", ".join(str(run_id) for run_id in result.run_ids)
    if result.identical:
        return (f"identical: {result.business_date} of alliance {result.alliance} recomputes "
                f"to what runs {runs} hold")
    lines = [f"DIFFERS: {result.business_date} of alliance {result.alliance}, runs {runs} "
             f"(points, amount fen, count); `jifen clearing adjust` records the difference:"]
    lines += [f"  {d.merchant:<15}  {d.category:<19}  stored {d.stored}  recomputed "
              f"{d.recomputed}" for d in result.differences]
    return "\n".join(lines)


def _date_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alliance", required=True, help="alliance code")
    parser.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="business date")


def register_close_day(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "close-day", help="seal a business date: the host posts nothing more to it",
        description="Refused while the date is still the open business date by the clock "
                    "(until the alliance's cutover), or when it is sealed already.")
    _date_options(parser)
    parser.add_argument("--by", help="who seals it (default: the OS user)")
    parser.set_defaults(handler=_close_day)
    add_json_option(parser)


def register_run(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "run", help="clear a sealed date: positions, nets, settlement instructions",
        description="Reads the date's journal (read only) and stores one clearing run; "
                    "refused if the date is not sealed or already cleared.")
    _date_options(parser)
    parser.set_defaults(handler=_run)
    add_json_option(parser)


def register_adjust(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "adjust", help="recompute a cleared date and store the differences as an adjustment",
        description="Recomputes with the rules in force now; stores the deltas against the "
                    "run and earlier adjustments (never rewrites a run). Nothing changed: "
                    "nothing stored, exit 0.")
    _date_options(parser)
    parser.add_argument("--reason", required=True, help="why (kept with the adjustment)")
    parser.set_defaults(handler=_adjust)
    add_json_option(parser)


def register_verify(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "verify", help="recompute a cleared date; exit 1 if its runs differ")
    _date_options(parser)
    parser.set_defaults(handler=_verify)
    add_json_option(parser)


def register_status(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "status", help="dates: open or sealed, cleared (run), adjusted (count)")
    parser.add_argument("--alliance", help="alliance code (default: all)")
    parser.set_defaults(handler=_status)
    add_json_option(parser)


# Each adds one action to `jifen clearing`, in the order --help lists them.
ACTIONS: list[Callable[[argparse._SubParsersAction], None]] = [
    register_close_day, register_run, register_adjust, register_verify, register_status,
    *clearing_output.ACTIONS,      # report, settlement-files, nightly
]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "clearing", help="nightly clearing: seal dates, clear them, check them")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for register_action in ACTIONS:
        register_action(actions)

