"""`jifen shop create|list|activate|deactivate`: shops (门店) under a merchant."""

from __future__ import annotations

import argparse

from back_office.provisioning.shops import create_shop, list_shops, set_shop_active
from database.roles import Role
from jifen.commands.runner import add_json_option, print_json, print_table, run_command

_COLUMNS = ("shop_code", "merchant_code", "name", "active", "terminals")


def _create(args: argparse.Namespace) -> int:
    shop = run_command(args, Role.BACK_OFFICE, lambda conn: create_shop(
        conn, args.merchant, args.code, args.name))
    if args.json:
        print_json(shop)
    else:
        print(f"created shop {shop.shop_code} of merchant {shop.merchant_code}")
    return 0


def _list(args: argparse.Namespace) -> int:
    shops = run_command(args, Role.BACK_OFFICE,
                              lambda conn: list_shops(conn, args.merchant))
    if args.json:
        print_json(shops)
    else:
        print_table(shops, _COLUMNS)
    return 0


def _set_active(args: argparse.Namespace) -> int:
    active = args.action == "activate"
    shop = run_command(args, Role.BACK_OFFICE,
                             lambda conn: set_shop_active(conn, args.code, active))
    if args.json:
        print_json(shop)
    else:
        print(f"shop {shop.shop_code} is {'active' if active else 'inactive'}: its"
              f" {shop.terminals} terminal(s) {'serve again' if active else 'get 58'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("shop", help="shops under a merchant; terminals stand in one")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = add_json_option(actions.add_parser("create", help="a new shop of a merchant"))
    create.add_argument("--merchant", required=True, help="merchant code")
    create.add_argument("--code", required=True, help="shop code: 1-15 of A-Z, 0-9")
    create.add_argument("--name", required=True)
    create.set_defaults(handler=_create)
    listing = add_json_option(actions.add_parser("list", help="list shops"))
    listing.add_argument("--merchant", help="only this merchant's")
    listing.set_defaults(handler=_list)
    for action, text in (("activate", "make a shop active again"),
                         ("deactivate", "make a shop inactive: its terminals get 58")):
        toggle = add_json_option(actions.add_parser(action, help=text, description=text))
        toggle.add_argument("--code", required=True, help="shop code")
        toggle.set_defaults(handler=_set_active)
