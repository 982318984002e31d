"""`jifen transit drive|list`: transfers of points between cards of two partitions. `drive` is
the service that carries each approved transfer through its steps (supervised by `jifen up
--partitions 2`, jifen-transit.service); `list` shows them, open ones first to look at."""

from __future__ import annotations

import argparse

import asyncpg

from back_office.balances import CommandOutcome
from back_office.queries.cards import find_card
from back_office.transit import FINAL, Transfer, TransferState, find_transfers, show_transfer
from database.connect import resolve_database_url
from database.roles import Role
from jifen.commands.card_lookup import card_hash_in
from jifen.commands.runner import add_json_option, print_json, print_table, run_command
from runtime.config import load_config
from runtime.service import run_service

_COLUMNS = ("id", "kind", "state", "from_card", "to_card", "source", "destination", "points",
            "result_code", "requested_at", "updated_at")


def as_outcome(transfer: Transfer) -> CommandOutcome:
    """The transfer as the outcome of the command an approval made on one host: done when
    credited, refused when refused, voided or stuck, pending while open."""
    state = ("done" if transfer.state == TransferState.CREDITED
             else "refused" if transfer.state in FINAL else "pending")
    result = (f"transfer {transfer.id} {transfer.state} ({transfer.source} -> "
              f"{transfer.destination})" + (f": {transfer.result}" if transfer.result else ""))
    return CommandOutcome(
        id=transfer.command_id or 0, kind=transfer.kind,
        subject=f"card {transfer.from_card} to {transfer.to_card}", state=state,
        result_code=transfer.result_code, result=result[:200],
        transaction_id=transfer.transaction_id if state == "done" else None,
        approval_id=transfer.approval_id, requested_by=transfer.requested_by,
        requested_at=transfer.requested_at,
        done_at=transfer.updated_at if state != "pending" else None)



def _drive(args: argparse.Namespace) -> int:
    from back_office.transit.service import run_transit

    config = load_config(args.config)
    url = resolve_database_url(config.database, Role.BACK_OFFICE)
    return run_service("transit", config, config.transit.metrics_port, run_transit,
                       config.transit, url, drain_timeout_s=config.transit.drain_timeout_s)


def _list(args: argparse.Namespace) -> int:
    async def run(conn: asyncpg.Connection) -> list[Transfer]:
        card_id = None
        if args.pan is not None:
            pan_hash = await card_hash_in(conn, args.config, args.pan)
            card_id = (await find_card(conn, pan_hash, args.pan)).card_id
        return await find_transfers(conn, open_only=args.open, card_id=card_id,
                                    limit=args.limit)

    transfers = run_command(args, Role.BACK_OFFICE, run)
    if args.json:
        print_json(transfers)
    else:
        print_table(transfers, _COLUMNS)
    return 0


_STEP_COLUMNS = ("step", "command_id", "partition", "state", "result_code", "result",
                 "transaction_id", "done_at")


def _show(args: argparse.Namespace) -> int:
    shown = run_command(args, Role.BACK_OFFICE,
                        lambda conn: show_transfer(conn, args.id))
    if args.json:
        print_json(shown)
        return 0
    transfer = shown.transfer
    print(f"transfer {transfer.id} ({transfer.kind}) {transfer.state}: card"
          f" {transfer.from_card} ({transfer.source}) to card {transfer.to_card}"
          f" ({transfer.destination}), {transfer.points} points; requested by"
          f" {transfer.requested_by} at {transfer.requested_at:%Y-%m-%d %H:%M:%S} UTC")
    if transfer.result_code is not None:
        print(f"ended {transfer.result_code}: {transfer.result}")
    print_table(shown.steps, _STEP_COLUMNS)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    text = "transfers of points between cards of two partitions"
    parser = subparsers.add_parser("transit", help=text, description=text)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    driving = actions.add_parser(
        "drive", help="carry approved transfers through their steps (a service)")
    driving.set_defaults(handler=_drive)
    listing = add_json_option(actions.add_parser("list", help="transfers, newest first"))
    listing.add_argument("--open", action="store_true",
                         help="only those not final (stuck ones included)")
    listing.add_argument("--pan", help="only this card's (giving or receiving)")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(handler=_list)
    showing = add_json_option(actions.add_parser(
        "show", help="a transfer and its steps: each command, the partition that decides it,"
                     " its outcome"))
    showing.add_argument("--id", type=int, required=True, help="transfer id")
    showing.set_defaults(handler=_show)
