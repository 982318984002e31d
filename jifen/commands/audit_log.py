"""`jifen audit-log`: who changed what in the back office, newest first (`audit_log`)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime, timedelta

import msgspec

from back_office.audit_trail import AUDIT_LOG_LIMIT_MAX, AuditEntry, AuditFilter, find_entries
from database.roles import Role
from jifen.commands.runner import add_json_option, print_json, print_table, run_command
from jifen.errors import CliError
from proto.pan import mask_pan


class _Line(msgspec.Struct, frozen=True):
    at: str
    actor: str
    action: str
    object: str
    merchant: str | None
    change: str


def parse_time(text: str, *, end: bool) -> datetime:
    """An ISO date or date-time; without a zone, UTC. A bare date as --to means its end."""
    try:
        if len(text) == len("YYYY-MM-DD"):
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"bad time {text!r}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]"
                       f"[+08:00]") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _filter(args: argparse.Namespace) -> AuditFilter:
    if not 1 <= args.limit <= AUDIT_LOG_LIMIT_MAX:
        raise CliError(f"--limit must be 1-{AUDIT_LOG_LIMIT_MAX}")
    if args.card is not None and not args.card.isdigit():
        raise CliError("--card is a card number, digits only")
    return AuditFilter(
        actor=args.actor,
        object_kind="card" if args.card else None,
        object_key=mask_pan(args.card) if args.card else None,
        merchant_code=args.merchant,
        from_at=parse_time(args.from_time, end=False) if args.from_time else None,
        to_at=parse_time(args.to_time, end=True) if args.to_time else None,
        limit=args.limit,
    )


def _line(entry: AuditEntry) -> _Line:
    def compact(fields: dict[str, object] | None) -> str:
        return "-" if fields is None else json.dumps(fields, ensure_ascii=False,
                                                     separators=(",", ":"))

    return _Line(entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), entry.actor,
                 entry.action, f"{entry.object_kind} {entry.object_key}", entry.merchant_code,
                 f"{compact(entry.before)} -> {compact(entry.after)}")


def _audit_log(args: argparse.Namespace) -> int:
    where = _filter(args)
    entries = run_command(args, Role.AUDIT, lambda conn: find_entries(conn, where))
    if args.json:
        print_json(entries)
    else:
        print_table([_line(entry) for entry in entries],
                    ("at", "actor", "action", "object", "merchant", "change"))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "audit-log", help="the audit trail of back-office changes, newest first",
        description="Filters combine. A merchant admin sees its merchant's rows only. Times "
                    "are UTC unless they carry a zone; a bare date as --to includes that day.")
    # Not the global --operator (the acting operator, given before the command).
    parser.add_argument("--operator", dest="actor", metavar="NAME",
                        help="changes made by this operator (or database login)")
    parser.add_argument("--card", metavar="PAN", help="changes of this card (by its mask)")
    parser.add_argument("--merchant", metavar="CODE", help="changes of this merchant's data")
    parser.add_argument("--from", dest="from_time", metavar="TIME", help="from this time on")
    parser.add_argument("--to", dest="to_time", metavar="TIME", help="until this time")
    parser.add_argument("--limit", type=int, default=100, help="at most this many rows")
    parser.set_defaults(handler=_audit_log)
    add_json_option(parser)
