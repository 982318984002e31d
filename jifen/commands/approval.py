"""`jifen approval list|approve|reject`: second-person approval of operators' requests, and
`submit_request`, which the commands whose change needs approval call when an operator acts."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

import asyncpg
import msgspec

from back_office.approvals import ApprovalRequest, approve, list_requests, reject, submit
from back_office.approvals.actions import Payload
from back_office.balances import CommandOutcome, outcome_of_request
from back_office.transit import transfer_of_request, wait_for_transfer
from database.roles import Role
from jifen.commands.runner import (
    add_json_option,
    partition_writers,
    print_json,
    print_table,
    run_command,
)
from jifen.commands.transit import as_outcome
from proto.host_commands import CommandKind
from runtime.config import load_config

_COLUMNS = ("id", "action", "subject", "state", "requested_by", "expires_at", "decided_by")


def request_expiry(args: argparse.Namespace) -> timedelta:
    return timedelta(hours=load_config(args.config).back_office.approval_expiry_h)


async def submit_request(
    conn: asyncpg.Connection, args: argparse.Namespace, action: str, subject: str,
    payload: Payload,
) -> ApprovalRequest:
    return await submit(conn, action, subject, payload, request_expiry(args))


def print_submitted(request: ApprovalRequest, as_json: bool) -> None:
    if as_json:
        print_json(request)
        return
    print(f"request {request.id}: {request.action} of {request.subject} awaits a second"
          f" operator (`jifen approval approve --id {request.id}`), until"
          f" {request.expires_at:%Y-%m-%d %H:%M} UTC")


def print_outcome(outcome: CommandOutcome, as_json: bool) -> int:
    """The command's outcome; exit 1 when the host refused it."""
    if as_json:
        print_json(outcome)
    elif outcome.state == "pending" and (outcome.result or "").startswith("transfer "):
        print(f"{outcome.result}: it goes on as the partitions' hosts decide its steps"
              " (`jifen transit list --open`)")
    elif outcome.state == "pending":
        print(f"command {outcome.id} ({outcome.kind}) is queued: the account host applies it"
              f" when it runs (`jifen card commands --pending`)")
    elif outcome.state == "done":   # a gift command posts nothing: no transaction
        posted = "" if outcome.transaction_id is None else \
            f" (transaction {outcome.transaction_id})"
        print(f"command {outcome.id} ({outcome.kind}) done: {outcome.result}{posted}")
    else:
        print(f"jifen: error: command {outcome.id} ({outcome.kind}) refused by the account"
              f" host ({outcome.result_code}): {outcome.result}", file=sys.stderr)
    return 1 if outcome.state == "refused" else 0



def _list(args: argparse.Namespace) -> int:
    requests = run_command(args, Role.BACK_OFFICE, lambda conn: list_requests(
        conn, pending_only=not args.all, limit=args.limit))
    if args.json:
        print_json(requests)
    else:
        print_table(requests, _COLUMNS)
    return 0


def _approve(args: argparse.Namespace) -> int:
    """Approved; a change of balances is then waited for until the account host applies it."""
    config = load_config(args.config)
    wait_s = config.back_office.host_command_wait_s

    async def run(conn: asyncpg.Connection) -> tuple[ApprovalRequest, CommandOutcome | None]:
        # Every partition's login only if the action writes in one (a risk review's release).
        decided = await approve(conn, args.id, args.note,
                                lambda: partition_writers(conn, config))
        transfer_id = (await transfer_of_request(conn, decided.id)
                       if decided.action == CommandKind.POINTS_TRANSFER else None)
        if transfer_id is not None:   # between partitions: waited for until final
            return decided, as_outcome(await wait_for_transfer(conn, transfer_id, wait_s))
        return decided, await outcome_of_request(conn, decided.id, wait_s)

    decided, outcome = run_command(args, Role.BACK_OFFICE, run)
    if args.json:   # the request, and the command it made (null: none)
        print_json({**msgspec.to_builtins(decided), "command": outcome})
        return 0 if outcome is None or outcome.state != "refused" else 1
    print(f"request {decided.id} approved: {decided.result}")
    return 0 if outcome is None else print_outcome(outcome, False)


def _reject(args: argparse.Namespace) -> int:
    decided = run_command(args, Role.BACK_OFFICE,
                          lambda conn: reject(conn, args.id, args.note))
    if args.json:
        print_json(decided)
    else:
        print(f"request {decided.id} rejected; nothing changed")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "approval", help="approve or reject another operator's request (maker-checker)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = add_json_option(actions.add_parser("list", help="pending requests, newest first"))
    listing.add_argument("--all", action="store_true", help="decided and expired ones too")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(handler=_list)
    approving = add_json_option(actions.add_parser(
        "approve", help="carry another operator's request out"))
    approving.add_argument("--id", type=int, required=True, help="request id")
    approving.add_argument("--note", help="why, for the audit trail")
    approving.set_defaults(handler=_approve)
    rejecting = add_json_option(actions.add_parser(
        "reject", help="refuse another operator's request; nothing changes"))
    rejecting.add_argument("--id", type=int, required=True, help="request id")
    rejecting.add_argument("--note", required=True, help="why: the maker reads it")
    rejecting.set_defaults(handler=_reject)
