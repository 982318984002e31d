"""`jifen card-range add|list` (routing by BIN), `jifen card issue` (cards in bulk), `jifen card
status`, `jifen card password set|reset|show` and `jifen card statement` (对账单)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

import asyncpg

from back_office.approvals import CARD_UNBLOCK, PASSWORD_RESET, ApprovalRequest
from back_office.card_service import (
    CardChange,
    CardStep,
    card_of,
    change_card,
    expire_card,
    renew_card,
)
from back_office.provisioning import IssueSummary, add_card_range, issue_cards, list_card_ranges
from back_office.provisioning.card_passwords import (
    prepare_password_reset,
    reset_card_password,
    set_card_password,
    show_card_password,
)
from back_office.provisioning.card_status import CARD_STATUSES, set_card_status
from back_office.provisioning.cards import parse_expiry
from back_office.provisioning.errors import ConflictError
from back_office.queries import Statement, card_statement, find_card
from back_office.queries.statement_render import FORMATS, render
from database.passwords import read_private_file
from database.roles import Role
from jifen.commands import card_balance
from jifen.commands.acting import acting_operator
from jifen.commands.approval import print_submitted, submit_request
from jifen.commands.card_lookup import card_hash_in, card_hash_of
from jifen.commands.runner import (
    add_json_option,
    other_partitions,
    print_json,
    print_table,
    run_command,
)
from jifen.errors import CliError
from proto.keys import Purpose, load_kek, open_data_keys
from runtime.config import load_config


def _add_range(args: argparse.Namespace) -> int:
    card_range = run_command(args, Role.BACK_OFFICE, lambda conn: add_card_range(
        conn, args.bin_low, args.bin_high, args.host,
    ))
    if args.json:
        print_json(card_range)
    else:
        print(f"added card range {card_range.bin_low}-{card_range.bin_high} -> host "
              f"{card_range.host_name}")
    return 0


def _list_ranges(args: argparse.Namespace) -> int:
    ranges = run_command(args, Role.BACK_OFFICE, list_card_ranges)
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
    summary = run_command(args, Role.BACK_OFFICE, lambda conn: issue_cards(
        conn, args.alliance, args.bin, args.count, args.length, expires_on, args.out,
        kek=_kek(args), inactive=args.inactive, member_id=args.member,
    ))
    if summary.routed_to_host is None:
        print(f"jifen: warning: no card range routes BIN {summary.bin}; add one with "
              f"`jifen card-range add` or these cards cannot transact", file=sys.stderr)
    if args.json:
        print_json(summary)
    else:
        print(format_issue_summary(summary))
    return 0


def _lookup_key(args: argparse.Namespace) -> Callable[[asyncpg.Connection], Awaitable[bytes]]:
    kek = _kek(args)

    async def open_key(conn: asyncpg.Connection) -> bytes:
        keys = await open_data_keys(conn, kek, [Purpose.PAN_LOOKUP])
        return keys[Purpose.PAN_LOOKUP]

    return open_key


def _step(args: argparse.Namespace) -> int:
    lookup = _lookup_key(args)
    if args.card_command == "unblock" and acting_operator(args) is not None:
        return _request_unblock(args, lookup)

    async def run(conn: asyncpg.Connection) -> CardChange:
        key = await lookup(conn)
        if args.card_command == "expire":
            return await expire_card(conn, key, args.pan)
        if args.card_command == "renew":
            return await renew_card(conn, key, args.pan, args.expires)
        return await change_card(conn, key, args.pan, CardStep(args.card_command))

    change = run_command(args, Role.BACK_OFFICE, run)
    if args.json:
        print_json(change)
    elif change.expires_on != change.expires_on_before:
        print(f"card {change.pan_masked}: expires {change.expires_on_before} ->"
              f" {change.expires_on} ({change.status})")
    else:
        print(f"card {change.pan_masked}: {change.status_before} -> {change.status}")
    return 0


def _request_unblock(
    args: argparse.Namespace, lookup: Callable[[asyncpg.Connection], Awaitable[bytes]],
) -> int:
    """An operator's unblock is a request a second operator approves (maker-checker)."""

    async def run(conn: asyncpg.Connection) -> ApprovalRequest:
        async with conn.transaction():
            card = await card_of(conn, await lookup(conn), args.pan)
            if card["status"] != "blocked":
                raise ConflictError(f"card {card['pan_masked']} is {card['status']}, not"
                                    " blocked")
            return await submit_request(conn, args, CARD_UNBLOCK.name,
                                        f"card {card['pan_masked']}", {"card_id": card["id"]})

    print_submitted(run_command(args, Role.BACK_OFFICE, run), args.json)
    return 0


def _set_status(args: argparse.Namespace) -> int:
    change = run_command(args, Role.BACK_OFFICE, lambda conn: set_card_status(
        conn, args.pan, args.status, kek=_kek(args),
        unblock_allowed=acting_operator(args) is None,
    ))
    if args.json:
        print_json(change)
    else:
        print(f"card {change.pan_masked}: {change.status_before} -> {change.status}")
    return 0


# A password file holds one short line; anything larger is not one.
PASSWORD_FILE_SIZE_BYTES_MAX = 64


def _read_password(args: argparse.Namespace) -> str:
    """The new password from --password-file (mode 0600), --password-stdin or a prompt asked
    twice; never from the command line, which other users can read in the process list."""
    if args.password_stdin:
        return sys.stdin.readline().strip()
    if args.password_file is not None:
        return _read_password_file(Path(args.password_file))
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password: use --password-stdin or "
                       "--password-file")
    first = getpass.getpass("new card password: ")
    if getpass.getpass("again: ") != first:
        raise CliError("the two passwords differ; nothing was changed")
    return first


def _read_password_file(path: Path) -> str:
    content = read_private_file(path, PASSWORD_FILE_SIZE_BYTES_MAX, "password file")
    return content.decode("utf-8", "replace").strip()


def _password_change(args: argparse.Namespace) -> int:
    password = _read_password(args)
    if args.password_action == "reset" and acting_operator(args) is not None:
        return _request_password_reset(args, password)
    change_of = reset_card_password if args.password_action == "reset" else set_card_password
    change = run_command(args, Role.BACK_OFFICE, lambda conn: change_of(
        conn, args.pan, password, kek=_kek(args),
    ))
    if args.json:
        print_json(change)
    else:
        unlocked = " (it was locked: unlocked)" if change.was_locked else ""
        print(f"card {change.pan_masked}: password {change.action}{unlocked}")
    return 0


def _request_password_reset(args: argparse.Namespace, password: str) -> int:
    """An operator's reset is a request a second operator approves: it keeps the new
    password's verification value, never the password."""

    async def run(conn: asyncpg.Connection) -> ApprovalRequest:
        prepared = await prepare_password_reset(conn, args.pan, password, kek=_kek(args))
        return await submit_request(
            conn, args, PASSWORD_RESET.name, f"card {prepared.pan_masked}",
            {"card_id": prepared.card_id, "verification": prepared.verification_hex})

    print_submitted(run_command(args, Role.BACK_OFFICE, run), args.json)
    return 0


def _password_show(args: argparse.Namespace) -> int:
    shown = run_command(args, Role.BACK_OFFICE, lambda conn: show_card_password(
        conn, args.pan, kek=_kek(args),
    ))
    if args.json:
        print_json(shown)
    elif not shown.has_password:
        print(f"card {shown.pan_masked}: no password")
    else:
        state = "locked (75)" if shown.locked else f"{shown.wrong_tries} wrong tries in a row"
        print(f"card {shown.pan_masked}: password set, {state}")
    return 0


def _register_password(card_actions: argparse._SubParsersAction) -> None:
    password = card_actions.add_parser(
        "password", help="a card's password (host interface 1.2): set, reset, show")
    actions = password.add_subparsers(dest="password_action", metavar="ACTION", required=True)
    helps = {"set": "give a card without a password one",
             "reset": "give a card a new password and clear its wrong tries (unlocks it)"}
    for name, text in helps.items():
        action = actions.add_parser(
            name, help=text, description=f"{text[0].upper()}{text[1:]}. The password (4-6 "
            "digits) is asked for twice, or read from --password-stdin or --password-file; "
            "never from the command line.")
        action.add_argument("--pan", required=True, help="the card number")
        source = action.add_mutually_exclusive_group()
        source.add_argument("--password-stdin", action="store_true",
                            help="read the password from the first line of stdin")
        source.add_argument("--password-file", metavar="FILE",
                            help="read the password from FILE (mode 0600)")
        action.set_defaults(handler=_password_change)
        add_json_option(action)
    show = actions.add_parser("show", help="whether a card has a password, and its lock")
    show.add_argument("--pan", required=True, help="the card number")
    show.set_defaults(handler=_password_show)
    add_json_option(show)


def _statement(args: argparse.Namespace) -> int:
    operator = acting_operator(args) is not None
    card_hash = None if operator else card_hash_of(args.config, args.pan)
    config = load_config(args.config)

    async def query(conn: asyncpg.Connection) -> Statement:
        hashed = card_hash if card_hash is not None else await card_hash_in(
            conn, args.config, args.pan)
        card = await find_card(conn, hashed, args.pan)
        return await card_statement(conn, card, args.date_from, args.date_to,
                                    await other_partitions(conn, config))

    # The audit role (SELECT only) in the installer's mode, else the operator's own role (a
    # merchant admin sees its merchant's lines only); the statement's transaction is READ ONLY.
    content = render(run_command(args, Role.AUDIT, query), args.format)
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
        "card", help="issue cards, see them through their life, print a statement")
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
    issue.add_argument("--member", type=int, metavar="ID",
                       help="issue one card (--count 1) to this member of the alliance")
    issue.add_argument("--inactive", action="store_true",
                       help="cards to be sold: declined (05) until `jifen card activate`")
    issue.set_defaults(handler=_issue)
    add_json_option(issue)
    status = card_actions.add_parser(
        "status", help="set a card's status: lost (41), stolen (43), blocked (05) or active",
    )
    status.add_argument("--pan", required=True, help="the card number")
    status.add_argument("status", choices=CARD_STATUSES)
    status.set_defaults(handler=_set_status)
    add_json_option(status)
    steps = {
        "activate": "activate a card issued --inactive (until then 05)",
        "lost": "report the card lost: 41 from now on",
        "stolen": "report the card stolen: 43 from now on",
        "found": "a lost or stolen card is found again: active",
        "block": "block the card: 05 from now on",
        "unblock": "unblock a blocked card: active",
        "expire": "expire the card now: 54 from now on; its balances stay",
        "renew": "give the card a new expiry (--expires YYYY-MM, default 5 years); balances kept",
    }
    for name, text in steps.items():
        step = add_json_option(card_actions.add_parser(name, help=text, description=text))
        step.add_argument("--pan", required=True, help="the card number")
        if name == "renew":
            step.add_argument("--expires", metavar="YYYY-MM",
                              help="the new expiry month (default: 5 years from today)")
        step.set_defaults(handler=_step, card_command=name)
    _register_password(card_actions)
    card_balance.register(card_actions)
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
