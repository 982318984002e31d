"""`jifen rules review-tiers`: the nightly tier review (jifen-tier-review.timer), through the
account host (docs/rules.md, "Tiers"): tiers whose year ended are decided again."""

from __future__ import annotations

import argparse
from datetime import date

from back_office.rules import TierReviewRun, review_tiers
from jifen.commands.runner import add_json_option
from jifen.commands.sweeps import run_sweeps

# How long it waits for the host, in all: 10^5 due holders are 200 commands, each one group
# commit of a few milliseconds.
REVIEW_WAIT_S_DEFAULT = 120.0


def _review(args: argparse.Namespace) -> int:
    def headline(review: TierReviewRun) -> str:
        return (f"{review.alliance_code}: tiers whose year ended before {review.through}:"
                f" {review.holders} holders found, {len(review.commands)} commands")

    return run_sweeps(args, lambda conn, code: review_tiers(conn, code, args.date, args.wait),
                      headline, "tier review")


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
