"""`jifen saf list`: the front's store-and-forward queue of reversal advices (0420).

Pending rows by default (what the front still owes the host), every row with --all; PANs are
masked. A row that stays pending long is a host that does not answer: see the
JifenSafBacklogOld alert (deploy/prometheus/jifen-alerts.yml).
"""

from __future__ import annotations

import argparse

from acquirer_front.saf import list_saf
from database.roles import Role
from jifen.commands.runner import add_json_option, print_json, print_table, run_command

_COLUMNS = ("id", "state", "origin", "terminal_code", "stan", "original", "reason_code",
            "processing_code", "amount", "currency", "pan", "attempts", "last_response_code",
            "created_at")


def _list(args: argparse.Namespace) -> int:
    rows = run_command(
        args, Role.AUDIT, lambda conn: list_saf(conn, include_settled=args.all))
    if args.json:
        print_json(rows)
    else:
        print_table(rows, _COLUMNS)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "saf", help="the front's store-and-forward queue of reversals")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", help="list reversal advices the front owes the host",
        description="Rows of the front's store-and-forward queue, oldest first: pending ones "
                    "(still to be acknowledged by the host), or all with --all. PANs masked.",
    )
    listing.add_argument("--all", action="store_true",
                         help="also rows already acknowledged or refused by the host")
    listing.set_defaults(handler=_list)
    add_json_option(listing)
