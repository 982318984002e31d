"""`jifen merchant create|list|activate|deactivate`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from back_office.approvals import MERCHANT_RATE
from back_office.provisioning import create_merchant, list_merchants, set_merchant_active
from back_office.provisioning.merchants import Merchant, update_merchant
from database.roles import Role
from jifen.commands.acting import acting_operator
from jifen.commands.approval import print_submitted, submit_request
from jifen.commands.runner import add_json_option, print_json, print_table, run_command

_COLUMNS = ("merchant_code", "alliance_code", "name", "active", "earn_points_per_yuan")


def _show(merchant: Merchant, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(merchant)
        return
    state = "active" if merchant.active else "inactive"
    print(f"{verb} merchant {merchant.merchant_code} ({merchant.name}) in alliance "
          f"{merchant.alliance_code}: {state}, earns {merchant.earn_points_per_yuan} "
          "points per yuan")


def _create(args: argparse.Namespace) -> int:
    merchant = run_command(args, Role.BACK_OFFICE, lambda conn: create_merchant(
        conn, args.alliance, args.code, args.name, args.earn_points_per_yuan, not args.inactive,
    ))
    _show(merchant, "created", args.json)
    return 0


def _list(args: argparse.Namespace) -> int:
    merchants = run_command(
        args, Role.BACK_OFFICE, lambda conn: list_merchants(conn, args.alliance))
    if args.json:
        print_json(merchants)
    else:
        print_table(merchants, _COLUMNS)
    return 0


def _update(args: argparse.Namespace) -> int:
    earning = args.earn_points_per_yuan is not None or args.category is not None
    if earning and acting_operator(args) is not None:
        # A rate (or the category that gives one) is what members earn: an operator's
        # change waits for a second operator.
        payload = {"merchant_code": args.code, "name": args.name,
                   "earn_points_per_yuan": args.earn_points_per_yuan,
                   "category": args.category}
        request = run_command(args, Role.BACK_OFFICE, lambda conn: submit_request(
            conn, args, MERCHANT_RATE.name, f"merchant {args.code}", payload))
        print_submitted(request, args.json)
        return 0
    merchant = run_command(args, Role.BACK_OFFICE, lambda conn: update_merchant(
        conn, args.code, name=args.name, earn_points_per_yuan=args.earn_points_per_yuan,
        category=args.category))
    _show(merchant, "updated", args.json)
    return 0


def _set_active(active: bool) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        merchant = run_command(
            args, Role.BACK_OFFICE, lambda conn: set_merchant_active(conn, args.code, active)
        )
        _show(merchant, "activated" if active else "deactivated", args.json)
        return 0

    return handler


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("merchant", help="create, list, activate merchants")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a merchant in an alliance")
    create.add_argument("--alliance", required=True, help="alliance code")
    create.add_argument("--code", required=True, help="merchant code: 15 characters (field 42)")
    create.add_argument("--name", required=True)
    create.add_argument("--earn-points-per-yuan", type=int, default=1)
    create.add_argument("--inactive", action="store_true", help="create it inactive")
    create.set_defaults(handler=_create)
    add_json_option(create)
    update = add_json_option(actions.add_parser(
        "update", help="change a merchant's name or earn rate (an operator's rate change"
                       " waits for a second operator's approval)"))
    update.add_argument("--code", required=True, help="merchant code")
    update.add_argument("--name")
    update.add_argument("--earn-points-per-yuan", type=int)
    update.add_argument("--category", help="its category for the earn rules (e.g. dining);"
                                           " '' clears it")
    update.set_defaults(handler=_update)
    listing = actions.add_parser("list", help="list merchants")
    listing.add_argument("--alliance", help="only this alliance's")
    listing.set_defaults(handler=_list)
    add_json_option(listing)
    for name, active in (("activate", True), ("deactivate", False)):
        toggle = actions.add_parser(name, help=f"{name} a merchant: its terminals "
                                    f"{'may' if active else 'may no longer'} transact")
        toggle.add_argument("--code", required=True, help="merchant code")
        toggle.set_defaults(handler=_set_active(active))
        add_json_option(toggle)
