"""`jifen card adjust|transfer|close|replace|commands`: changes of a card's balances. Each is a
command the account host applies (the only writer); adjust, transfer and close are requests a
second operator approves (`jifen approval approve`), replace is carried out at once."""

from __future__ import annotations

import argparse

import asyncpg

from back_office.approvals import ApprovalRequest
from back_office.balances import (
    CommandOutcome,
    find_commands,
    propose_adjustment,
    propose_closure,
    propose_transfer,
    replace_card,
    wait_for_outcome,
)
from back_office.queries import find_card
from back_office.transit import wait_for_transfer
from database.roles import Role
from jifen.commands.approval import print_outcome, print_submitted, submit_request
from jifen.commands.card_lookup import card_hash_in, lookup_key_in
from jifen.commands.runner import add_json_option, print_json, print_table, run_command
from jifen.commands.transit import as_outcome
from runtime.config import load_config

_COLUMNS = ("id", "kind", "subject", "state", "result_code", "result", "requested_by",
            "requested_at", "approval_id")


def host_command_wait_s(args: argparse.Namespace) -> float:
    return load_config(args.config).back_office.host_command_wait_s


def _request(args: argparse.Namespace) -> int:
    async def run(conn: asyncpg.Connection) -> ApprovalRequest:
        key = await lookup_key_in(conn, args.config)
        async with conn.transaction():
            if args.action == "adjust":
                proposal = await propose_adjustment(
                    conn, key, args.pan, points=args.points or 0,
                    stored_value_fen=args.stored_value or 0, reason=args.reason)
            elif args.action == "transfer":
                proposal = await propose_transfer(conn, key, args.pan, args.to_pan,
                                                  args.points, args.reason)
            else:
                proposal = await propose_closure(conn, key, args.pan, args.reason)
            return await submit_request(conn, args, proposal.action, proposal.subject,
                                        proposal.payload)

    print_submitted(run_command(args, Role.BACK_OFFICE, run), args.json)
    return 0


def _replace(args: argparse.Namespace) -> int:
    wait_s = host_command_wait_s(args)

    async def run(conn: asyncpg.Connection) -> CommandOutcome:
        key = await lookup_key_in(conn, args.config)
        replacement = await replace_card(conn, key, args.pan, args.new_pan, args.reason)
        if replacement.transfer_id is not None:   # into another partition's range
            return as_outcome(await wait_for_transfer(conn, replacement.transfer_id, wait_s))
        assert replacement.command_id is not None
        return await wait_for_outcome(conn, replacement.command_id, wait_s)

    return print_outcome(run_command(args, Role.BACK_OFFICE, run), args.json)


def _commands(args: argparse.Namespace) -> int:
    async def run(conn: asyncpg.Connection) -> list[CommandOutcome]:
        card_id = None
        if args.pan is not None:
            pan_hash = await card_hash_in(conn, args.config, args.pan)
            card_id = (await find_card(conn, pan_hash, args.pan)).card_id
        return await find_commands(conn, card_id=card_id, pending_only=args.pending,
                                   limit=args.limit)

    commands = run_command(args, Role.BACK_OFFICE, run)
    if args.json:
        print_json(commands)
    else:
        print_table(commands, _COLUMNS)
    return 0


def register(card_actions: argparse._SubParsersAction) -> None:
    adjust = add_json_option(card_actions.add_parser(
        "adjust", help="ask for points or stored value to be given or taken (approved by a"
                       " second operator)"))
    adjust.add_argument("--pan", required=True, help="the card number")
    amount = adjust.add_mutually_exclusive_group(required=True)
    amount.add_argument("--points", type=int, help="whole points, + given, - taken")
    amount.add_argument("--stored-value", type=int, metavar="FEN",
                        help="stored value in fen, + given, - taken")
    adjust.add_argument("--reason", required=True, help="why, for the approver and the audit")
    adjust.set_defaults(handler=_request)
    transfer = add_json_option(card_actions.add_parser(
        "transfer", help="ask for points to go from one member's card to another's (where the"
                         " alliance allows it; approved by a second operator)"))
    transfer.add_argument("--pan", required=True, help="the giving card")
    transfer.add_argument("--to-pan", required=True, help="the receiving card")
    transfer.add_argument("--points", type=int, required=True, help="whole points, > 0")
    transfer.add_argument("--reason", required=True)
    transfer.set_defaults(handler=_request)
    close = add_json_option(card_actions.add_parser(
        "close", help="ask for the card to be closed: stored value paid out, points forfeited"
                      " (approved by a second operator)"))
    close.add_argument("--pan", required=True, help="the card number")
    close.add_argument("--reason", required=True)
    close.set_defaults(handler=_request)
    replace = add_json_option(card_actions.add_parser(
        "replace", help="move every balance to a new card and close the old one (05 from now"
                        " on); the new card goes to the old one's member"))
    replace.add_argument("--pan", required=True, help="the old card")
    replace.add_argument("--new-pan", required=True,
                         help="the new card: active, or newly sold (inactive: activated)")
    replace.add_argument("--reason", required=True)
    replace.set_defaults(handler=_replace)
    commands = add_json_option(card_actions.add_parser(
        "commands", help="changes of balances sent to the account host, newest first"))
    commands.add_argument("--pan", help="only this card's")
    commands.add_argument("--pending", action="store_true", help="only those not yet applied")
    commands.add_argument("--limit", type=int, default=100)
    commands.set_defaults(handler=_commands)
