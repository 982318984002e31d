"""`jifen rules review-tiers`: the nightly tier review (jifen-tier-review.timer), through the
account host (docs/rules.md, "Tiers"): tiers whose year ended are decided again."""

from __future__ import annotations

import argparse
import sys
from datetime import date

import asyncpg

from back_office.provisioning.alliances import list_alliances
from back_office.rules import TierReviewRun, review_tiers
from database.roles import Role
from jifen.commands.runner import add_json_option, print_json, run_command

# How long it waits for the host, in all: 10^5 due holders are 200 commands, each one group
# commit of a few milliseconds.
REVIEW_WAIT_S_DEFAULT = 120.0


def _review(args: argparse.Namespace) -> int:
    """Every alliance's (or one's) review; exit 1 when a command was refused or is still
    pending when the wait ends (the host applies it when it can; run again to see)."""
    async def run(conn: asyncpg.Connection) -> list[TierReviewRun]:
        codes = [args.alliance] if args.alliance else [
            alliance.code for alliance in await list_alliances(conn)]
        return [await review_tiers(conn, code, args.date, args.wait) for code in codes]

    runs = run_command(args, Role.BACK_OFFICE, run)
    if args.json:
        print_json(runs)
    for review in runs:
        if not args.json:
            print(f"{review.alliance_code}: tiers whose year ended before {review.through}:"
                  f" {review.holders} holders found, {len(review.commands)} commands")
            for outcome in review.commands:
                print(f"  command {outcome.id}: {outcome.state} {outcome.result_code or ''}"
                      f" {outcome.result or ''}".rstrip())
    unfinished = [outcome for review in runs for outcome in review.commands
                  if outcome.state != "done"]
    if unfinished:
        print(f"jifen: error: {len(unfinished)} tier review commands not done (pending or"
              " refused): `jifen card commands --pending`", file=sys.stderr)
        return 1
    return 0


def register(actions: argparse._SubParsersAction) -> None:
    """`review-tiers` among `jifen rules`' actions."""
    review = add_json_option(actions.add_parser(
        "review-tiers", help="decide again the tiers whose year has ended, through the account"
                             " host (nightly: jifen-tier-review.timer)"))
    review.add_argument("--alliance", help="alliance code (default: every alliance)")
    review.add_argument("--date", type=date.fromisoformat, metavar="DATE",
                        help="review tiers whose year ended before this local date (default:"
                             " today in the alliance's time zone)")
    review.add_argument("--wait", type=float, default=REVIEW_WAIT_S_DEFAULT, metavar="S",
                        help="seconds to wait for the host in all (default %(default)s)")
    review.set_defaults(handler=_review)
