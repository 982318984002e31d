"""`jifen gift add|list|restock|withdraw`: the alliances' gift catalogues. HQ adds a gift with
its first stock; a restock or a withdrawal is a command the account host applies (it keeps the
stock), waited for as a card's balance change is."""

from __future__ import annotations

import argparse

import asyncpg

from back_office.balances import CommandOutcome, wait_for_outcome
from back_office.gifts import add_gift, list_gifts, restock_gift, withdraw_gift
from database.roles import Role
from jifen.commands.approval import print_outcome
from jifen.commands.card_balance import host_command_wait_s
from jifen.commands.runner import add_json_option, print_json, print_table, run_command

_COLUMNS = ("alliance", "code", "name", "points", "stock", "active", "host")


def _add(args: argparse.Namespace) -> int:
    gift = run_command(args, Role.BACK_OFFICE, lambda conn: add_gift(
        conn, args.alliance, args.code, args.name, args.points, args.stock, args.host))
    if args.json:
        print_json(gift)
    else:
        print(f"added gift {gift.code} ({gift.name}) to alliance {gift.alliance}:"
              f" {gift.points} points, {gift.stock} in stock")
    return 0


def _list(args: argparse.Namespace) -> int:
    gifts = run_command(args, Role.BACK_OFFICE, lambda conn: list_gifts(
        conn, args.alliance, args.limit))
    if args.json:
        print_json(gifts)
    else:
        print_table(gifts, _COLUMNS)
    return 0


def _change(args: argparse.Namespace) -> int:
    wait_s = host_command_wait_s(args)

    async def run(conn: asyncpg.Connection) -> CommandOutcome:
        if args.action == "restock":
            command_id = await restock_gift(conn, args.alliance, args.code, args.quantity,
                                            args.reason)
        else:
            command_id = await withdraw_gift(conn, args.alliance, args.code, args.reason)
        return await wait_for_outcome(conn, command_id, wait_s)

    return print_outcome(run_command(args, Role.BACK_OFFICE, run), args.json)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gift", help="the alliances' gift catalogues and stock")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a gift with its first stock")
    add.add_argument("--alliance", required=True)
    add.add_argument("--code", required=True, help="tag GC: 1-32 letters, digits, '_' or '-'")
    add.add_argument("--name", required=True)
    add.add_argument("--points", type=int, required=True, help="its price in points")
    add.add_argument("--stock", type=int, required=True, help="how many there are")
    add.add_argument("--host", default="main",
                     help="the account host that keeps its stock (default main)")
    add_json_option(add)
    add.set_defaults(handler=_add)
    listing = actions.add_parser("list", help="list gifts with their stock")
    listing.add_argument("--alliance", help="one alliance's catalogue")
    listing.add_argument("--limit", type=int, default=1_000)
    add_json_option(listing)
    listing.set_defaults(handler=_list)
    restock = actions.add_parser(
        "restock", help="more of a gift: a command the account host applies")
    withdraw = actions.add_parser(
        "withdraw", help="no more redemptions of a gift (05): a command the host applies")
    for action in (restock, withdraw):
        action.add_argument("--alliance", required=True)
        action.add_argument("--code", required=True)
        action.add_argument("--reason", required=True, help="kept with the command")
        add_json_option(action)
        action.set_defaults(handler=_change)
    restock.add_argument("--quantity", type=int, required=True, help="how many more")
