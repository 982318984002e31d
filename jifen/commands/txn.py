"""`jifen txn find` (交易查询): the journal's transactions by card, merchant, terminal, RRN and
dates, or the declined requests by response code; newest first, a page at a time.

Reads as the audit role (SELECT only) in one READ ONLY transaction (back_office/queries/).
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

import asyncpg

from back_office.queries import (
    PAGE_ROWS_DEFAULT,
    PAGE_ROWS_MAX,
    DeclineFilter,
    DeclinePage,
    TransactionFilter,
    TransactionPage,
    find_card,
    find_declines,
    find_transactions,
)
from database.roles import Role
from jifen.commands.acting import acting_operator
from jifen.commands.card_lookup import card_hash_in, card_hash_of
from jifen.commands.runner import (
    add_json_option,
    other_partitions,
    print_json,
    print_table,
    run_command,
)
from jifen.errors import CliError
from runtime.config import load_config

TRANSACTION_COLUMNS = ("business_date", "transaction_id", "posted_at", "kind", "mti",
                       "merchant_code", "terminal_code", "pan_masked", "stan", "rrn",
                       "auth_code", "amount", "currency", "points", "stored_value_fen",
                       "response_code")
DECLINE_COLUMNS = ("received_at", "mti", "merchant_code", "terminal_code", "stan",
                   "transmission_time", "response_code")
# Filters a declined request does not carry (host_requests keeps no card, RRN or date).
_NOT_FOR_DECLINES = (("pan", "--pan"), ("member", "--member"), ("rrn", "--rrn"),
                     ("date_from", "--from"), ("date_to", "--to"))


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _declines_asked(args: argparse.Namespace) -> bool:
    return bool(args.declined or (args.response_code and args.response_code != "00"))


def _find(args: argparse.Namespace) -> int:
    page: TransactionPage | DeclinePage
    columns: tuple[str, ...]
    if _declines_asked(args):
        page = _find_declines(args)
        columns = DECLINE_COLUMNS
    else:
        page = _find_transactions(args)
        columns = TRANSACTION_COLUMNS
    if args.json:
        print_json(page)
        return 0
    print_table(page.rows, columns)
    if page.next_cursor:
        print(f"more: --after {page.next_cursor}")
    return 0


def _find_transactions(args: argparse.Namespace) -> TransactionPage:
    operator = acting_operator(args) is not None
    card_hash = card_hash_of(args.config, args.pan) if args.pan and not operator else None
    config = load_config(args.config)

    async def query(conn: asyncpg.Connection) -> TransactionPage:
        nonlocal card_hash
        card_ids: tuple[int, ...] | None = None
        if args.pan and card_hash is None:   # an operator: its own role opens the key
            card_hash = await card_hash_in(conn, args.config, args.pan)
        if card_hash is not None:
            card_ids = ((await find_card(conn, card_hash, args.pan)).card_id,)
        if args.member is not None:
            member_cards = tuple(await conn.fetchval(
                "SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM cards"
                " WHERE member_id = $1", args.member))
            if not member_cards:
                raise CliError(f"member {args.member} has no card (or there is no such"
                               " member: `jifen member show`)")
            card_ids = member_cards if card_ids is None else tuple(
                card_id for card_id in card_ids if card_id in member_cards)
            if not card_ids:
                raise CliError(f"that card is not member {args.member}'s")
        return await find_transactions(conn, TransactionFilter(
            card_ids=card_ids, merchant_code=args.merchant, terminal_code=args.terminal,
            rrn=args.rrn, business_date_from=args.date_from, business_date_to=args.date_to,
            posted_from=args.since, posted_before=args.until,
        ), limit=args.limit, after=args.after, partitions=await other_partitions(conn, config))

    # The audit role in the installer's mode; an operator reads under its own role (a merchant
    # admin sees its own merchant's transactions only: row-level security, migration 017).
    return run_command(args, Role.AUDIT, query)


def _find_declines(args: argparse.Namespace) -> DeclinePage:
    for attribute, option in _NOT_FOR_DECLINES:
        if getattr(args, attribute) is not None:
            raise CliError(f"{option} does not apply to declined requests: the host keeps "
                           "their terminal, time and response code, not the card, RRN or "
                           "business date")
    config = load_config(args.config)

    async def query(conn: asyncpg.Connection) -> DeclinePage:
        return await find_declines(conn, DeclineFilter(
            response_code=args.response_code if args.response_code != "00" else None,
            merchant_code=args.merchant, terminal_code=args.terminal,
            received_from=args.since, received_before=args.until,
        ), limit=args.limit, after=args.after, partitions=await other_partitions(conn, config))

    return run_command(args, Role.AUDIT, query)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("txn", help="find transactions and declined requests")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    find = actions.add_parser(
        "find", help="transactions by card, merchant, terminal, RRN, dates or response code",
        description="The journal's transactions (approvals, response code 00), newest first, "
                    "narrowed by every filter given; with --declined or --response-code NN "
                    "(not 00), the requests the host declined instead. Paged: a page ends "
                    "with `more: --after CURSOR` when there is another. Card numbers masked.",
    )
    find.add_argument("--pan", help="the card number (looked up by its keyed hash)")
    find.add_argument("--member", type=int, metavar="ID",
                      help="every card of this member (`jifen member find`)")
    find.add_argument("--merchant", metavar="CODE", help="merchant code (field 42)")
    find.add_argument("--terminal", metavar="CODE", help="terminal code (field 41)")
    find.add_argument("--rrn", help="retrieval reference number (field 37)")
    find.add_argument("--from", dest="date_from", type=date.fromisoformat, metavar="DATE",
                      help="first business date, YYYY-MM-DD")
    find.add_argument("--to", dest="date_to", type=date.fromisoformat, metavar="DATE",
                      help="last business date, YYYY-MM-DD")
    find.add_argument("--since", type=parse_utc, metavar="TIME",
                      help="posted (or received) at or after, ISO 8601, UTC if no zone")
    find.add_argument("--until", type=parse_utc, metavar="TIME",
                      help="posted (or received) before, ISO 8601, UTC if no zone")
    codes = find.add_mutually_exclusive_group()
    codes.add_argument("--response-code", metavar="NN",
                       help="field 39: 00 for the transactions, another for declined requests")
    codes.add_argument("--declined", action="store_true",
                       help="declined requests, every response code but 00")
    find.add_argument("--limit", type=int, default=PAGE_ROWS_DEFAULT,
                      help=f"rows a page (default {PAGE_ROWS_DEFAULT}, at most {PAGE_ROWS_MAX})")
    find.add_argument("--after", metavar="CURSOR", help="the next page: the cursor printed")
    find.set_defaults(handler=_find)
    add_json_option(find)
