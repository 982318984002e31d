"""`jifen alliance create|list|set-mac-for-loads|set-points-transfer|set-order-share`."""

from __future__ import annotations

import argparse

from back_office.provisioning import create_alliance, list_alliances
from back_office.provisioning.alliances import (
    set_mac_for_loads,
    set_order_share,
    set_points_transfer,
)
from database.roles import Role
from jifen.commands.runner import add_json_option, print_json, print_table, run_command

_COLUMNS = ("code", "name", "timezone", "cutover", "exchange_points_per_yuan",
            "requires_mac_for_loads", "points_transfer_allowed", "order_points_share_bp")


def _create(args: argparse.Namespace) -> int:
    alliance = run_command(args, Role.BACK_OFFICE, lambda conn: create_alliance(
        conn, args.code, args.name, args.timezone, args.cutover, args.exchange_points_per_yuan,
        requires_mac_for_loads=not args.no_mac_for_loads,
    ))
    if args.json:
        print_json(alliance)
    else:
        print(f"created alliance {alliance.code} ({alliance.name}): business day ends "
              f"{alliance.cutover} {alliance.timezone}, "
              f"{alliance.exchange_points_per_yuan} points buy 1 yuan of stored value; "
              + ("loads and exchanges need a terminal that MACs"
                 if alliance.requires_mac_for_loads
                 else "loads and exchanges allowed from terminals that do not MAC"))
    return 0


def _set_mac_for_loads(args: argparse.Namespace) -> int:
    alliance = run_command(args, Role.BACK_OFFICE, lambda conn: set_mac_for_loads(
        conn, args.code, args.on))
    if args.json:
        print_json(alliance)
    else:
        print(f"alliance {alliance.code}: " + (
            "loads and exchanges need a terminal that MACs" if alliance.requires_mac_for_loads
            else "loads and exchanges allowed from terminals that do not MAC"))
    return 0


def _set_points_transfer(args: argparse.Namespace) -> int:
    alliance = run_command(args, Role.BACK_OFFICE, lambda conn: set_points_transfer(
        conn, args.code, args.allowed))
    if args.json:
        print_json(alliance)
    else:
        print(f"alliance {alliance.code}: transfers of points between members' cards "
              + ("allowed" if alliance.points_transfer_allowed else "refused"))
    return 0


def _set_order_share(args: argparse.Namespace) -> int:
    alliance = run_command(args, Role.BACK_OFFICE, lambda conn: set_order_share(
        conn, args.code, args.share_bp))
    if args.json:
        print_json(alliance)
    else:
        print(f"alliance {alliance.code}: points may pay at most"
              f" {alliance.order_points_share_bp / 100:g} % of an order")
    return 0


def _list(args: argparse.Namespace) -> int:
    alliances = run_command(args, Role.BACK_OFFICE, list_alliances)
    if args.json:
        print_json(alliances)
    else:
        print_table(alliances, _COLUMNS)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("alliance", help="create and list alliances")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create an alliance")
    create.add_argument("--code", required=True, help="1-32 letters, digits, '_' or '-'")
    create.add_argument("--name", required=True)
    create.add_argument("--timezone", default="Asia/Shanghai", help="IANA zone of its day")
    create.add_argument("--cutover", default="23:00",
                        help="local time HH:MM at which its business day ends")
    create.add_argument("--exchange-points-per-yuan", type=int, default=100,
                        help="points that buy 1 yuan of stored value")
    create.add_argument("--no-mac-for-loads", action="store_true",
                        help="let terminals that do not MAC load stored value (210000) and"
                             " exchange points into it (400060); by default they get 58")
    add_json_option(create)
    create.set_defaults(handler=_create)
    mac = actions.add_parser(
        "set-mac-for-loads", help="whether loads (210000) and exchanges (400060) need MAC")
    mac.add_argument("--code", required=True)
    switch = mac.add_mutually_exclusive_group(required=True)
    switch.add_argument("--on", dest="on", action="store_true",
                        help="terminals that do not MAC get 58 for them (the default)")
    switch.add_argument("--off", dest="on", action="store_false",
                        help="let terminals that do not MAC load and exchange")
    add_json_option(mac)
    mac.set_defaults(handler=_set_mac_for_loads)
    transfer = actions.add_parser(
        "set-points-transfer",
        help="whether members may give each other points (`jifen card transfer`)")
    transfer.add_argument("--code", required=True)
    allowed = transfer.add_mutually_exclusive_group(required=True)
    allowed.add_argument("--allowed", dest="allowed", action="store_true",
                         help="transfers may be requested (each approved by a second operator)")
    allowed.add_argument("--refused", dest="allowed", action="store_false",
                         help="no transfers (the default); the host refuses them 57")
    add_json_option(transfer)
    transfer.set_defaults(handler=_set_points_transfer)
    share = actions.add_parser(
        "set-order-share",
        help="the most of an order that points may pay (900000 with tag OA; 61 above)")
    share.add_argument("--code", required=True)
    share.add_argument("--share-bp", type=int, required=True,
                       help="basis points of the order: 5000 is half (the default), 0 none")
    add_json_option(share)
    share.set_defaults(handler=_set_order_share)
    listing = actions.add_parser("list", help="list alliances")
    add_json_option(listing)
    listing.set_defaults(handler=_list)
