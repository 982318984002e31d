"""`jifen card-range add|list` (routing by BIN), `jifen card issue` (cards in bulk), `jifen card
status` and `jifen card statement` (对账单)."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import asyncpg

from back_office.provisioning import IssueSummary, add_card_range, issue_cards, list_card_ranges
from back_office.provisioning.card_status import CARD_STATUSES, set_card_status
from back_office.provisioning.cards import parse_expiry
from back_office.queries import Statement, card_statement, find_card
from back_office.queries.statement_render import FORMATS, render
from database.roles import Role
from jifen.commands.card_lookup import card_hash_of
from jifen.commands.runner import add_json_option, print_json, print_table, run_with_database
from proto.keys import load_kek
from runtime.config import load_config


def _add_range(args: argparse.Namespace) -> int:
    card_range = run_with_database(args.config, Role.BACK_OFFICE, lambda conn: add_card_range(
        conn, args.bin_low, args.bin_high, args.host,
    ))
    if args.json:
        print_json(card_range)
    else:
        print(f"added card range {card_range.bin_low}-{card_range.bin_high} -> host "
              f"{card_range.host_name}")
    return 0


def _list_ranges(args: argparse.Namespace) -> int:
    ranges = run_with_database(args.config, Role.BACK_OFFICE, list_card_ranges)
    if args.json:
        print_json(ranges)
    else:
        print_table(ranges, ("bin_low", "bin_high", "host_name"))
    return 0


def _kek(args: argparse.Namespace) -> bytes:
    """The installation's KEK, as the front's config names it (it opens the card keys)."""
    front = load_config(args.config).front
    return load_kek(front.kek_file, front.kek_env)


def _issue(args: argparse.Namespace) -> int:
    expires_on = parse_expiry(args.expires)
    summary = run_with_database(args.config, Role.BACK_OFFICE, lambda conn: issue_cards(
        conn, args.alliance, args.bin, args.count, args.length, expires_on, args.out,
        kek=_kek(args),
    ))
    if summary.routed_to_host is None:
        print(f"jifen: warning: no card range routes BIN {summary.bin}; add one with "
              f"`jifen card-range add` or these cards cannot transact", file=sys.stderr)
    if args.json:
        print_json(summary)
    else:
        print(format_issue_summary(summary))
    return 0


def _set_status(args: argparse.Namespace) -> int:
    change = run_with_database(args.config, Role.BACK_OFFICE, lambda conn: set_card_status(
        conn, args.pan, args.status, kek=_kek(args),
    ))
    if args.json:
        print_json(change)
    else:
        print(f"card {change.pan_masked}: {change.status_before} -> {change.status}")
    return 0


def _statement(args: argparse.Namespace) -> int:
    card_hash = card_hash_of(args.config, args.pan)

    async def query(conn: asyncpg.Connection) -> Statement:
        card = await find_card(conn, card_hash, args.pan)
        return await card_statement(conn, card, args.date_from, args.date_to)

    # The audit role: SELECT only, and the statement's own transaction is READ ONLY.
    content = render(run_with_database(args.config, Role.AUDIT, query), args.format)
    if args.out:
        Path(args.out).write_bytes(content)
    else:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
    return 0


def format_issue_summary(summary: IssueSummary) -> str:
    lines = [
        f"issued {summary.count} cards of alliance {summary.alliance_code} under BIN "
        f"{summary.bin} ({summary.length} digits), expiring {summary.expires_on}, "
        f"in {summary.elapsed_s:.2f} s",
        f"card ids {summary.first_card_id}-{summary.last_card_id}; e.g. "
        + ", ".join(summary.sample_pans_masked),
    ]
    if summary.csv_path:
        lines.append(f"card numbers written to {summary.csv_path}")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    ranges = subparsers.add_parser("card-range", help="route card numbers to account hosts")
    range_actions = ranges.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = range_actions.add_parser("add", help="route PANs starting in [low, high] to a host")
    add.add_argument("--bin-low", required=True, help="first BIN of the range (1-12 digits)")
    add.add_argument("--bin-high", required=True, help="last BIN, as many digits as --bin-low")
    add.add_argument("--host", default="main", help="account host name (switch config)")
    add.set_defaults(handler=_add_range)
    add_json_option(add)
    listing = range_actions.add_parser("list", help="list card ranges")
    listing.set_defaults(handler=_list_ranges)
    add_json_option(listing)

    cards = subparsers.add_parser(
        "card", help="issue cards, report them lost or stolen, print a statement")
    card_actions = cards.add_subparsers(dest="action", metavar="ACTION", required=True)
    issue = card_actions.add_parser(
        "issue", help="issue N random Luhn-valid cards under a BIN, in one transaction",
    )
    issue.add_argument("--alliance", required=True, help="alliance code")
    issue.add_argument("--bin", required=True, help="leading digits of every card number")
    issue.add_argument("--count", type=int, required=True, help="how many cards")
    issue.add_argument("--length", type=int, default=16, help="digits per card (16-19)")
    issue.add_argument("--expires", metavar="YYYY-MM", help="expiry month (default: 5 years)")
    issue.add_argument("--out", metavar="CSV", help="write pan,expires_on,card_id here (0600)")
    issue.set_defaults(handler=_issue)
    add_json_option(issue)
    status = card_actions.add_parser(
        "status", help="set a card's status: lost (41), stolen (43), blocked (05) or active",
    )
    status.add_argument("--pan", required=True, help="the card number")
    status.add_argument("status", choices=CARD_STATUSES)
    status.set_defaults(handler=_set_status)
    add_json_option(status)
    statement = card_actions.add_parser(
        "statement", help="a card's transactions with running balances (points, stored value)",
        description="Every transaction that moved the card's points or stored value in the "
                    "business dates given, with both balances after each, and the opening "
                    "and closing balances; amounts are integers (points, fen). CSV is UTF-8 "
                    "with a byte order mark, for spreadsheets. The card number is masked.",
    )
    statement.add_argument("--pan", required=True, help="the card number")
    statement.add_argument("--from", dest="date_from", required=True, type=date.fromisoformat,
                           metavar="DATE", help="first business date, YYYY-MM-DD")
    statement.add_argument("--to", dest="date_to", required=True, type=date.fromisoformat,
                           metavar="DATE", help="last business date, YYYY-MM-DD (included)")
    statement.add_argument("--format", choices=FORMATS, default="table")
    statement.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    statement.set_defaults(handler=_statement)
