"""`jifen notify`: the sender of members' notifications (a service, supervised by `jifen up`,
jifen-notify.service), and `jifen notify expiry-warnings`: the run that writes an event for
each card whose points expire within its alliance's warning window (jifen-expiry.timer)."""

from __future__ import annotations

import argparse
from datetime import date

import anyio
import asyncpg
import msgspec

from back_office.provisioning.alliances import list_alliances
from back_office.rules.expiry_warnings import ExpiryWarnings, warn_expiring
from database.connect import resolve_database_url
from database.partitions import CENTRAL_NUMBER, partition_databases, read_partitions
from database.roles import Role
from jifen.commands.runner import add_json_option, print_json, run_command
from notifications.errors import PartitionsChanged
from notifications.sender import CENTRAL_NAME_DEFAULT
from runtime.config import Config, load_config
from runtime.service import run_service


class SenderUrls(msgspec.Struct, frozen=True):
    central_url: str
    central_name: str
    others: dict[str, str]  # every other partition's name -> URL, in number order


def sender_urls(config: Config) -> SenderUrls:
    """The sender's URLs as jifen_notify: central's, and every other partition's from central's
    partitions table and the configuration (a partition without its section is refused)."""
    central_url = resolve_database_url(config.database, Role.NOTIFY)
    partitions = anyio.run(read_partitions, central_url, config.database.connect_timeout_s,
                           backend="asyncio")
    databases = partition_databases(partitions, config.database, config.partitions)
    central_name = next((partition.name for partition in partitions
                         if partition.number == CENTRAL_NUMBER), CENTRAL_NAME_DEFAULT)
    return SenderUrls(central_url, central_name, {
        partition.name: resolve_database_url(databases[partition.name], Role.NOTIFY)
        for partition in partitions if partition.number != CENTRAL_NUMBER})


def _send(args: argparse.Namespace) -> int:
    from notifications import run_notify

    config = load_config(args.config)
    urls = sender_urls(config)
    try:
        return run_service("notify", config, config.notify.metrics_port, run_notify,
                           config.notify, urls.central_url, urls.others, urls.central_name,
                           drain_timeout_s=config.notify.drain_timeout_s)
    except* PartitionsChanged as changed:   # one line, exit 2; its supervisor starts it again
        raise changed.exceptions[0] from None


def _expiry_warnings(args: argparse.Namespace) -> int:
    async def run(conn: asyncpg.Connection) -> list[ExpiryWarnings]:
        codes = [args.alliance] if args.alliance else [
            alliance.code for alliance in await list_alliances(conn)]
        return [await warn_expiring(conn, code, args.date) for code in codes]

    runs = run_command(args, Role.BACK_OFFICE, run)
    if args.json:
        print_json(runs)
        return 0
    for done in runs:
        if done.warning_days is None:
            print(f"{done.alliance_code}: points do not expire under the rules in force")
            continue
        print(f"{done.alliance_code}: {done.cards} cards with points expiring from {done.on}"
              f" within {done.warning_days} days, {done.written} warnings written")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    text = ("deliver members' notifications from the outbox to the SMS gateway's webhook"
            " (none configured: print them)")
    parser = subparsers.add_parser("notify", help=text, description=text)
    parser.set_defaults(handler=_send)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    warnings = add_json_option(actions.add_parser(
        "expiry-warnings", help="write a notification for each card whose points expire within"
                                " its alliance's warning window (once per card and day)"))
    warnings.add_argument("--alliance", help="alliance code (default: every alliance)")
    warnings.add_argument("--date", type=date.fromisoformat, metavar="DATE",
                          help="the window's first day (default: today in the alliance's time"
                               " zone)")
    warnings.set_defaults(handler=_expiry_warnings)
