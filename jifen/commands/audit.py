"""`jifen audit`: check the journal and the business records; exit 1 naming each violation.

With partitions, every check runs on each partition's database and is reported per partition,
then the checks across partitions; `--partition NAME` audits that one alone. A check across
partitions marked a warning (`retransmission_key_split`) is listed as WARNING and does not
change the exit code. With one
database (no partition but central) the report is the single one it always was.

Exit codes: 0 clean, 1 violations found, 2 the database could not be audited.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from back_office.ledger_check import AuditError, AuditReport, audit_database
from back_office.ledger_check.partitioned import (
    AuditTarget,
    PartitionedAuditReport,
    audit_partitions,
)
from back_office.ledger_check.result import CheckResult, PointsLiability
from back_office.ledger_check.runner import AUDIT_TIMEOUT_S_DEFAULT
from back_office.ledger_check.targets import audit_targets
from database.roles import Role
from jifen.commands.runner import command_url, print_json
from jifen.errors import CliError
from runtime.config import load_config

EXIT_VIOLATIONS = 1

Report = TypeVar("Report")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "audit", help="check that the ledger balances (exit 1 on any violation)",
        description="Check the database read-only: entries sum to zero, balances equal their "
                    "postings, no negative stored value, postings in their entry's ledger, "
                    "reversals and returns have an original, one reversal per original, returns "
                    "within the original amount, one transaction per idempotency key.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--timeout-s", type=float, default=AUDIT_TIMEOUT_S_DEFAULT,
        help=f"give up after this many seconds (default {AUDIT_TIMEOUT_S_DEFAULT:g})",
    )
    parser.add_argument(
        "--partition", metavar="NAME",
        help="audit this partition's database alone (without the checks across partitions)")
    parser.set_defaults(handler=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    url = command_url(args, Role.AUDIT)
    targets = anyio.run(audit_targets, url, config.database, config.partitions,
                        backend="asyncio")
    if args.partition is not None or len(targets) > 1:
        return _run_partitioned(args, targets, config.database.connect_timeout_s)
    report = _run_audit(functools.partial(
        audit_database, url, timeout_s=args.timeout_s,
        connect_timeout_s=config.database.connect_timeout_s))
    if args.json:
        print_json(report)
    else:
        if not report.clean:
            print(format_violations(report), file=sys.stderr)
        print(format_summary(report))
        _print_liabilities(report.liabilities)
    return 0 if report.clean else EXIT_VIOLATIONS


def _run_audit(audit: Callable[[], Awaitable[Report]]) -> Report:
    try:
        return anyio.run(audit, backend="asyncio")
    except AuditError as exc:
        raise CliError(f"audit failed: {exc}") from exc


def _print_liabilities(liabilities: list[PointsLiability]) -> None:
    """Each alliance's points outstanding, from its members' postings: the figure the daily
    digest's liability must equal (`jifen report daily`, docs/reports.md)."""
    for liability in liabilities:
        print(f"points liability of {liability.alliance}: {liability.points} points "
              f"(its members' points postings)")


def format_violations(report: AuditReport) -> str:
    return "\n".join(_violation_lines(report.checks, ""))


def format_summary(report: AuditReport) -> str:
    counts = report.counts
    verdict = "clean" if report.clean else f"{report.violation_count} violations"
    return (f"audit {verdict}: {len(report.checks)} checks over {counts.transactions} "
            f"transactions, {counts.entries} entries, {counts.postings} postings and "
            f"{counts.accounts} accounts in {report.elapsed_s:.2f} s")


def _run_partitioned(
    args: argparse.Namespace, targets: list[AuditTarget], connect_timeout_s: float,
) -> int:
    names = [target.name for target in targets]
    if args.partition is not None and args.partition not in names:
        raise CliError(f"no partition {args.partition}; the partitions are {', '.join(names)}"
                       " (`jifen partition list`)")
    report = _run_audit(functools.partial(
        audit_partitions, targets, only=args.partition,
        connect_timeout_s=connect_timeout_s, timeout_s=args.timeout_s))
    if args.json:
        print_json(report)
        return 0 if report.clean else EXIT_VIOLATIONS
    violations = _partitioned_violations(report)
    if violations:
        print(violations, file=sys.stderr)
    for partition in report.partitions:
        print(f"partition {partition.name}: {format_summary(partition.report)}")
    if args.partition is None:
        across = sum(check.violation_count for check in report.across if not check.warning)
        warned = (f", {report.warning_count} warnings" if report.warning_count else "")
        print(f"across partitions: {'clean' if not across else f'{across} violations'}:"
              f" {len(report.across)} checks{warned}")
    verdict = "clean" if report.clean else f"{report.violation_count} violations"
    warned = f" ({report.warning_count} warnings)" if report.warning_count else ""
    print(f"audit {verdict}{warned} over {len(report.partitions)} partitions in"
          f" {report.elapsed_s:.2f} s")
    _print_liabilities(report.liabilities)
    return 0 if report.clean else EXIT_VIOLATIONS


def _partitioned_violations(report: PartitionedAuditReport) -> str:
    """Each violation as the single report names it, after the partition it was found in."""
    lines = []
    for partition in report.partitions:
        lines += _violation_lines(partition.report.checks, f"partition {partition.name}: ")
    lines += _violation_lines(report.across, "across partitions: ")
    return "\n".join(lines)


def _violation_lines(checks: list[CheckResult], where: str) -> list[str]:
    lines = []
    for check in checks:
        if not check.violation_count:
            continue
        listed = len(check.violations)
        more = f" (first {listed} listed)" if listed < check.violation_count else ""
        label = "WARNING" if check.warning else "VIOLATION"
        lines.append(f"{where}{label} {check.name}: {check.violation_count} rows break "
                     f"'{check.description}'{more}")
        lines.extend(f"  {violation.describe()}" for violation in check.violations)
    return lines
