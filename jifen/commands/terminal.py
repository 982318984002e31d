"""`jifen terminal create|list|set-mac`: terminals of a merchant, with their TMKs sealed at rest."""

from __future__ import annotations

import argparse
import sys

from back_office.provisioning import create_terminal, list_terminals
from back_office.provisioning.terminals import rotate_tmk, set_requires_mac, set_terminal_active
from back_office.provisioning.tmk_files import parse_tmk_text, read_tmk_file
from back_office.provisioning.validate import terminal_code
from database.roles import Role
from jifen.commands.runner import add_json_option, print_json, print_table, run_command
from jifen.errors import CliError

_COLUMNS = ("terminal_code", "merchant_code", "shop_code", "requires_mac", "active", "has_tmk")
_KEK_HELP = ("Its TMK is stored sealed to the front's public key (published by `jifen db"
             " migrate` or the front's first start): this command needs no KEK and cannot open"
             " a TMK again.")


# A TMK on the command line is visible to every user of the machine (ps, /proc).
TMK_ON_ARGV_REFUSED = ("--tmk is no longer accepted: a command line is visible to every user of"
                       " the machine. Give the TMK with --tmk-file FILE or --tmk-stdin")


def read_tmk_option(args: argparse.Namespace, terminal: str) -> bytes | None:
    """The TMK of --tmk-file (one hex line, or the terminal's row of a TMK CSV) or
    --tmk-stdin; None when neither was given. --tmk is refused, naming them."""
    if args.tmk is not None:
        raise CliError(TMK_ON_ARGV_REFUSED)
    if args.tmk_stdin:
        return parse_tmk_text(sys.stdin.readline(), terminal, "standard input")
    if args.tmk_file is not None:
        tmk = read_tmk_file(args.tmk_file, terminal)
        if tmk is None:
            raise CliError(f"{args.tmk_file} has no TMK for terminal {terminal}")
        return tmk
    return None


def add_tmk_options(parser: argparse.ArgumentParser, what: str) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--tmk-file", metavar="FILE",
                        help=f"read {what} from FILE: 32 hex digits, or a CSV with columns"
                             " terminal_code,tmk (as var/demo-tmks.csv)")
    source.add_argument("--tmk-stdin", action="store_true",
                        help=f"read {what} (32 hex digits) from the first line of stdin")
    source.add_argument("--tmk", help=argparse.SUPPRESS)  # refused, naming the options above


def _create(args: argparse.Namespace) -> int:
    code = terminal_code(args.code)  # input errors before any I/O
    tmk = read_tmk_option(args, code)
    if tmk is None:
        raise CliError("terminal create needs its TMK: --tmk-file FILE or --tmk-stdin")
    # Sealed to the front's public key: this command holds no key that opens a TMK.
    terminal = run_command(args, Role.BACK_OFFICE, lambda conn: create_terminal(
        conn, code, args.merchant, tmk, not args.no_mac, args.shop,
    ))
    if args.json:
        print_json(terminal)
    else:
        mac = "requires MAC" if terminal.requires_mac else "no MAC required"
        print(f"created terminal {terminal.terminal_code} of merchant {terminal.merchant_code}"
              f" ({mac}); TMK sealed, check value {terminal.tmk_check_value}")
    return 0


def _list(args: argparse.Namespace) -> int:
    terminals = run_command(
        args, Role.BACK_OFFICE, lambda conn: list_terminals(conn, args.merchant))
    if args.json:
        print_json(terminals)
    else:
        print_table(terminals, _COLUMNS)
    return 0


def _set_mac(args: argparse.Namespace) -> int:
    code = terminal_code(args.code)
    terminal = run_command(args, Role.BACK_OFFICE,
                                 lambda conn: set_requires_mac(conn, code, args.requires_mac))
    if args.json:
        print_json(terminal)
    else:
        state = "requires MAC from its next sign-on" if terminal.requires_mac \
            else "no longer requires MAC"
        print(f"terminal {terminal.terminal_code} {state}")
    return 0


def _set_active(args: argparse.Namespace) -> int:
    code = terminal_code(args.code)
    active = args.action == "activate"
    terminal = run_command(args, Role.BACK_OFFICE,
                                 lambda conn: set_terminal_active(conn, code, active))
    if args.json:
        print_json(terminal)
    else:
        print(f"terminal {terminal.terminal_code} is "
              f"{'active' if active else 'inactive: answered 58 until activated'}")
    return 0


def _rotate_tmk(args: argparse.Namespace) -> int:
    code = terminal_code(args.code)
    tmk = read_tmk_option(args, code)
    if tmk is None:
        raise CliError("rotate-tmk needs the new TMK: --tmk-file FILE or --tmk-stdin")
    terminal = run_command(args, Role.BACK_OFFICE,
                                 lambda conn: rotate_tmk(conn, code, tmk))
    if args.json:
        print_json(terminal)
    else:
        print(f"terminal {terminal.terminal_code}: new TMK sealed, check value"
              f" {terminal.tmk_check_value}; its session key is void, so it gets A0 until it"
              " signs on under the new TMK")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("terminal", help="create and list terminals")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="register a terminal",
                                description=f"Register a terminal. {_KEK_HELP}")
    create.add_argument("--code", required=True, help="terminal code: 8 characters (field 41)")
    create.add_argument("--merchant", required=True, help="merchant code")
    create.add_argument("--shop", help="the merchant's shop it stands in (`jifen shop`)")
    add_tmk_options(create, "its terminal master key")
    mac = create.add_mutually_exclusive_group()
    mac.add_argument("--no-mac", action="store_true",
                     help="its requests need no MAC (by default they do: anyone who knows a"
                          " terminal's and merchant's IDs could otherwise transact as it)")
    mac.add_argument("--requires-mac", action="store_true",
                     help="its requests must carry a MAC: the default, kept for old scripts")
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
    for action, text in (("activate", "make a terminal active again"),
                         ("deactivate", "make a terminal inactive: answered 58 until"
                                        " activated")):
        toggle = add_json_option(actions.add_parser(action, help=text, description=text))
        toggle.add_argument("--code", required=True, help="terminal code")
        toggle.set_defaults(handler=_set_active)
    rotate_text = ("give a terminal a new TMK: sealed to the front, its check value shown; the"
                   " terminal gets A0 until it signs on under the new TMK")
    rotate = add_json_option(actions.add_parser("rotate-tmk", help=rotate_text,
                                                description=rotate_text))
    rotate.add_argument("--code", required=True, help="terminal code")
    add_tmk_options(rotate, "the new terminal master key")
    rotate.set_defaults(handler=_rotate_tmk)
