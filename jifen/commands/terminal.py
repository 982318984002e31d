"""`jifen terminal create|list|set-mac`: terminals of a merchant, with their TMKs sealed at rest."""

from __future__ import annotations

import argparse

from acquirer_front.keystore import KeyStore, KeyStoreError
from back_office.provisioning import create_terminal, list_terminals
from back_office.provisioning.terminals import set_requires_mac
from back_office.provisioning.validate import terminal_code, tmk_hex
from database.roles import Role
from jifen.commands.runner import add_json_option, print_json, print_table, run_with_database
from jifen.errors import CliError
from runtime.config import load_config

_COLUMNS = ("terminal_code", "merchant_code", "requires_mac", "active", "has_tmk")
_KEK_HELP = ("Its TMK is stored sealed under the KEK named in the [front] config: the variable"
             " kek_env ($JIFEN_KEK by default) when set, else the file kek_file (var/kek.hex,"
             " created on first use). The front must use the same KEK.")


def _create(args: argparse.Namespace) -> int:
    code, tmk = terminal_code(args.code), tmk_hex(args.tmk)  # input errors before any I/O
    try:
        keystore = KeyStore.from_config(load_config(args.config).front)
    except KeyStoreError as exc:
        raise CliError(f"key store: {exc}") from exc
    terminal = run_with_database(args.config, Role.BACK_OFFICE, lambda conn: create_terminal(
        conn, keystore, code, args.merchant, tmk, args.requires_mac,
    ))
    if args.json:
        print_json(terminal)
    else:
        mac = "requires MAC" if terminal.requires_mac else "no MAC required"
        print(f"created terminal {terminal.terminal_code} of merchant {terminal.merchant_code}"
              f" ({mac}); TMK sealed, check value {terminal.tmk_check_value}")
    return 0


def _list(args: argparse.Namespace) -> int:
    terminals = run_with_database(
        args.config, Role.BACK_OFFICE, lambda conn: list_terminals(conn, args.merchant))
    if args.json:
        print_json(terminals)
    else:
        print_table(terminals, _COLUMNS)
    return 0


def _set_mac(args: argparse.Namespace) -> int:
    code = terminal_code(args.code)
    terminal = run_with_database(args.config, Role.BACK_OFFICE,
                                 lambda conn: set_requires_mac(conn, code, args.requires_mac))
    if args.json:
        print_json(terminal)
    else:
        state = "requires MAC from its next sign-on" if terminal.requires_mac \
            else "no longer requires MAC"
        print(f"terminal {terminal.terminal_code} {state}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("terminal", help="create and list terminals")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="register a terminal",
                                description=f"Register a terminal. {_KEK_HELP}")
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
    set_mac = actions.add_parser(
        "set-mac", help="require MAC from a terminal, or stop requiring it",
        description="Require MAC (--on) or stop requiring it (--off). A terminal flagged while"
                    " signed on is refused (A0) until its next sign-on gives it a MAC key.",
    )
    set_mac.add_argument("--code", required=True, help="terminal code")
    switch = set_mac.add_mutually_exclusive_group(required=True)
    switch.add_argument("--on", dest="requires_mac", action="store_true")
    switch.add_argument("--off", dest="requires_mac", action="store_false")
    set_mac.set_defaults(handler=_set_mac)
    add_json_option(set_mac)
