"""`jifen lottery create|list|end|publish|verify`: the points lottery's campaigns (docs/rules.md,
"The lottery"). An operator's `create` is a request an HQ admin approves: prizes are points."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import asyncpg
import msgspec

from back_office.approvals import LOTTERY_CAMPAIGN
from back_office.lottery import (
    CampaignView,
    DrawCheck,
    create_campaign,
    end_campaign,
    list_campaigns,
    publish_secret,
    verify_draws,
)
from back_office.queries import find_card
from database.roles import Role
from jifen.commands.acting import acting_operator
from jifen.commands.approval import print_submitted, submit_request
from jifen.commands.card_lookup import card_hash_in
from jifen.commands.runner import add_json_option, print_json, print_table, run_command
from jifen.errors import CliError
from proto.lottery import InvalidPrizeTable, PrizeTable, check_table

PRIZES_FILE_BYTES_MAX = 100_000
_COLUMNS = ("code", "alliance_code", "draw_price_points", "state", "published", "created_at",
            "ended_at")


def read_prizes(path: str) -> PrizeTable:
    """A TOML file of `[[prizes]]` (code, kind, ppm, points, gift_code, stock)."""
    try:
        text = Path(path).read_text(encoding="utf-8")[:PRIZES_FILE_BYTES_MAX + 1]
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    if len(text) > PRIZES_FILE_BYTES_MAX:
        raise CliError(f"{path} is larger than {PRIZES_FILE_BYTES_MAX} bytes")
    try:
        table = msgspec.convert(tomllib.loads(text), PrizeTable)
        check_table(table)
    except (tomllib.TOMLDecodeError, msgspec.ValidationError, InvalidPrizeTable) as exc:
        raise CliError(f"{path}: {exc}") from exc
    return table


def _show(campaign: CampaignView, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(campaign)
        return
    print(f"campaign {campaign.code} of {campaign.alliance_code} {verb}: a draw costs"
          f" {campaign.draw_price_points} points; {campaign.state}"
          f"{', secret published' if campaign.published else ''}")


def _create(args: argparse.Namespace) -> int:
    table = read_prizes(args.prizes)
    if acting_operator(args) is not None:
        payload = {"alliance_code": args.alliance, "code": args.code, "price": args.price,
                   "table": msgspec.to_builtins(table)}
        print_submitted(run_command(args, Role.BACK_OFFICE, lambda conn: submit_request(
            conn, args, LOTTERY_CAMPAIGN.name, f"lottery {args.code} of {args.alliance}",
            payload)), args.json)
        return 0
    _show(run_command(args, Role.BACK_OFFICE, lambda conn: create_campaign(
        conn, args.alliance, args.code, args.price, table)), "opened", args.json)
    return 0


def _end(args: argparse.Namespace) -> int:
    _show(run_command(args, Role.BACK_OFFICE, lambda conn: end_campaign(conn, args.code)),
          "ended", args.json)
    return 0


def _publish(args: argparse.Namespace) -> int:
    _show(run_command(args, Role.BACK_OFFICE, lambda conn: publish_secret(conn, args.code)),
          "published", args.json)
    return 0


def _list(args: argparse.Namespace) -> int:
    campaigns = run_command(args, Role.AUDIT, lambda conn: list_campaigns(conn, args.alliance))
    if args.json:
        print_json(campaigns)
    else:
        print_table(campaigns, _COLUMNS)
    return 0


def _verify(args: argparse.Namespace) -> int:
    async def checks(conn: asyncpg.Connection) -> list[DrawCheck]:
        card_id = None
        if args.pan is not None:
            card_id = (await find_card(conn, await card_hash_in(conn, args.config, args.pan),
                                       args.pan)).card_id
        return await verify_draws(conn, args.code, card_id)

    # The audit role suffices for every draw; a card by its number needs the back office's.
    found = run_command(args, Role.AUDIT if args.pan is None else Role.BACK_OFFICE, checks)
    if args.json:
        print_json(found)
    else:
        print_table(found, ("transaction_id", "card_id", "draw_number", "recorded_value",
                            "recorded_prize",
                            "derived_value", "derived_prize", "matches"))
    return 0 if all(check.matches for check in found) else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lottery", help="the points lottery's campaigns")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = add_json_option(actions.add_parser(
        "create", help="open the alliance's campaign: draw price and prize table"))
    create.add_argument("--alliance", required=True)
    create.add_argument("--code", required=True, help="1-32 letters, digits, '_', '-'")
    create.add_argument("--price", type=int, required=True, help="points a draw costs")
    create.add_argument("--prizes", required=True, metavar="TOML",
                        help="[[prizes]] code, kind (points|gift), ppm, points, gift_code,"
                             " stock")
    create.set_defaults(handler=_create)
    for name, handler, text in (("end", _end, "end a campaign: draws are 12 from now on"),
                                ("publish", _publish,
                                 "publish an ended campaign's secret, for `verify`")):
        action = add_json_option(actions.add_parser(name, help=text))
        action.add_argument("--code", required=True)
        action.set_defaults(handler=handler)
    listing = add_json_option(actions.add_parser("list", help="campaigns, newest first"))
    listing.add_argument("--alliance")
    listing.set_defaults(handler=_list)
    verify = add_json_option(actions.add_parser(
        "verify", help="re-derive a card's draws from a published secret (exit 1 if any"
                       " differs from what the host recorded)"))
    verify.add_argument("--code", required=True)
    verify.add_argument("--pan", help="only this card's draws (needs the KEK; without it:"
                                      " every draw of the campaign)")
    verify.set_defaults(handler=_verify)
