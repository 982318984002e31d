"""`jifen terminal create|list`: terminals of a merchant, with their TMKs sealed at rest."""

from __future__ import annotations

import argparse

from acquirer_front.keystore import KeyStore
from jifen.provisioning import create_terminal, list_terminals
from jifen.provisioning.runner import (
    add_json_option, print_json, print_table, run_with_database,
)
from jifen.provisioning.validate import terminal_code, tmk_hex

_COLUMNS = ("terminal_code", "merchant_code", "requires_mac", "active", "has_tmk")


def _create(args: argparse.Namespace) -> int:
    code, tmk = terminal_code(args.code), tmk_hex(args.tmk)  # input errors before any I/O
    terminal = run_with_database(args.config, lambda conn: create_terminal(
        conn, KeyStore.from_environment(), code, args.merchant, tmk, args.requires_mac,
    ))
    if args.json:
        print_json(terminal)
    else:
        mac = "requires MAC" if terminal.requires_mac else "no MAC required"
        print(f"created terminal {terminal.terminal_code} of merchant {terminal.merchant_code}"
              f" ({mac}); TMK sealed, check value {terminal.tmk_check_value}")
    return 0


def _list(args: argparse.Namespace) -> int:
    terminals = run_with_database(args.config, lambda conn: list_terminals(conn, args.merchant))
    if args.json:
        print_json(terminals)
    else:
        print_table(terminals, _COLUMNS)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("terminal", help="create and list terminals")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", help="register a terminal",
        description="Register a terminal. Its TMK is stored sealed under the KEK "
                    "($JIFEN_KEK, else var/kek.hex, created on first use).",
    )
    create.add_argument("--code", required=True, help="terminal code: 8 characters (field 41)")
    create.add_argument("--merchant", required=True, help="merchant code")
    create.add_argument("--tmk", required=True, metavar="HEX32",
                        help="terminal master key: 32 hex digits")
    create.add_argument("--requires-mac", action="store_true",
                        help="its requests must carry a MAC (it gets MK at sign-on)")
    create.set_defaults(handler=_create)
    add_json_option(create)
    listing = actions.add_parser("list", help="list terminals")
    listing.add_argument("--merchant", help="only this merchant's")
    listing.set_defaults(handler=_list)
    add_json_option(listing)
