"""`jifen demo [--if-empty]`: the demo alliance, merchants, terminals, card range and cards."""

from __future__ import annotations

import argparse

from back_office.provisioning import create_demo, create_demo_if_empty
from back_office.provisioning.demo import DEMO_CARDS_CSV
from database.roles import Role
from jifen.commands.runner import add_json_option, print_json, run_with_database
from proto.keys import load_kek
from runtime.config import load_config


def _demo(args: argparse.Namespace) -> int:
    # The card keys open under the KEK the services use (the TMKs are sealed to the front's
    # public key, which needs none).
    front = load_config(args.config).front
    kek = load_kek(front.kek_file, front.kek_env)
    create = create_demo_if_empty if args.if_empty else create_demo
    summary = run_with_database(
        args.config, Role.BACK_OFFICE,
        lambda conn: create(conn, cards_csv=args.cards_csv, kek=kek))
    if args.json:
        print_json(summary)
    elif summary is None:
        print("an alliance exists already: no demo data created")
    else:
        print(f"created {summary.describe()}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="create demo data: an alliance, merchants, terminals and 1,000 cards",
    )
    parser.add_argument("--if-empty", action="store_true",
                        help="do nothing if any alliance exists (as `jifen up` does)")
    parser.add_argument("--cards-csv", default=DEMO_CARDS_CSV, metavar="CSV",
                        help=f"where to write the card numbers (default {DEMO_CARDS_CSV})")
    parser.set_defaults(handler=_demo)
    add_json_option(parser)
