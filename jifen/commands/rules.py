"""`jifen rules check|set|show|list|expire|review-tiers`: an alliance's earn rules
(docs/rules.md), a TOML (or JSON) document per version, each in force from a local date. An
operator's `set` is a request a second operator (HQ admin) approves: the rules are what
members earn. `expire` is the nightly expiry of points (jifen-expiry.timer), through the
account host; `review-tiers` the nightly tier review (jifen-tier-review.timer,
jifen/commands/tier_review.py)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import msgspec

from back_office.approvals import EARN_RULES
from back_office.rules import (
    ExpiryRun,
    RuleSetVersion,
    expire_points,
    list_versions,
    rules_in_force,
    set_rules,
)
from database.roles import Role
from jifen.commands import tier_review
from jifen.commands.acting import acting_operator
from jifen.commands.approval import print_submitted, submit_request
from jifen.commands.runner import add_json_option, print_json, print_table, run_command
from jifen.commands.sweeps import run_sweeps
from jifen.errors import CliError
from proto.earn_rules import EarnRules, InvalidRules, parse_rules_file

# A rule document is a page or two; a file far larger is not one.
RULES_FILE_BYTES_MAX = 1_000_000


def _read(path: str) -> EarnRules:
    """The document of `path` ('-': standard input), checked; CliError says what is wrong."""
    try:
        if path == "-":
            text = sys.stdin.read(RULES_FILE_BYTES_MAX + 1)
        else:
            with Path(path).open(encoding="utf-8") as handle:
                text = handle.read(RULES_FILE_BYTES_MAX + 1)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    if len(text) > RULES_FILE_BYTES_MAX:
        raise CliError(f"{path} is larger than {RULES_FILE_BYTES_MAX} bytes")
    try:
        return parse_rules_file(text)
    except InvalidRules as exc:
        raise CliError(f"{path}: {exc}") from exc


def _check(args: argparse.Namespace) -> int:
    rules = _read(args.file)
    if args.json:
        print_json(rules)
    else:
        print(f"{args.file}: valid: {len(rules.promotions)} promotions,"
              f" {len(rules.rates.categories)} category and {len(rules.rates.merchants)}"
              f" merchant rates" + (f", tiers {'/'.join(t.code for t in rules.tiers.levels)}"
                                    f" by {rules.tiers.measure}" if rules.tiers else ""))
    return 0


def _set(args: argparse.Namespace) -> int:
    rules = _read(args.file)
    if acting_operator(args) is not None:
        payload = {"alliance_code": args.alliance, "effective_from": args.effective.isoformat(),
                   "document": msgspec.to_builtins(rules)}
        request = run_command(args, Role.BACK_OFFICE, lambda conn: submit_request(
            conn, args, EARN_RULES.name,
            f"earn rules of {args.alliance} from {args.effective}", payload))
        print_submitted(request, args.json)
        return 0
    version = run_command(args, Role.BACK_OFFICE, lambda conn: set_rules(
        conn, args.alliance, args.effective, rules))
    if args.json:
        print_json(version)
    else:
        print(f"earn rules of {version.alliance_code} in force from {version.effective_from}")
    return 0


def _show(args: argparse.Namespace) -> int:
    version = run_command(args, Role.BACK_OFFICE, lambda conn: rules_in_force(
        conn, args.alliance, args.date))
    if args.json:
        print_json(version)
    elif version is None:
        print(f"alliance {args.alliance} has no earn rules in force: each merchant earns its"
              " own rate (`jifen merchant list`)")
    else:
        print(f"# earn rules of {version.alliance_code} in force from"
              f" {version.effective_from} (by {version.created_by})")
        print(json.dumps(version.document, indent=2, ensure_ascii=False))
    return 0


def _list(args: argparse.Namespace) -> int:
    versions = run_command(args, Role.BACK_OFFICE, lambda conn: list_versions(
        conn, args.alliance))
    if args.json:
        print_json(versions)
    else:
        print_table([_summary(version) for version in versions],
                    ("effective_from", "promotions", "created_by", "created_at",
                     "approval_id"))
    return 0


# How long `expire` waits for the host, in all: 10^5 due cards are 200 commands, each one
# group commit of a few milliseconds.
EXPIRE_WAIT_S_DEFAULT = 120.0


def _expire(args: argparse.Namespace) -> int:
    def headline(expiry: ExpiryRun) -> str:
        return (f"{expiry.alliance_code}: points whose last day is before {expiry.through}:"
                f" {expiry.cards} cards found, {len(expiry.commands)} commands")

    return run_sweeps(args, lambda conn, code: expire_points(conn, code, args.date, args.wait),
                      headline, "expiry")


class _Summary(msgspec.Struct, frozen=True):
    effective_from: date
    promotions: int
    created_by: str
    created_at: object
    approval_id: int | None


def _summary(version: RuleSetVersion) -> _Summary:
    return _Summary(version.effective_from, len(version.document.get("promotions", [])),
                    version.created_by, version.created_at, version.approval_id)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rules", help="the alliance's earn rules (docs/rules.md)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = add_json_option(actions.add_parser(
        "check", help="check a rule document without storing it"))
    check.add_argument("--file", required=True, help="TOML or JSON; '-' for standard input")
    check.set_defaults(handler=_check)
    setting = add_json_option(actions.add_parser(
        "set", help="a new version of the alliance's earn rules, in force from a local date"))
    setting.add_argument("--alliance", required=True, help="alliance code")
    setting.add_argument("--file", required=True, help="TOML or JSON; '-' for standard input")
    setting.add_argument("--effective", required=True, type=date.fromisoformat,
                         metavar="DATE", help="first local date it is in force (today or later)")
    setting.set_defaults(handler=_set)
    show = add_json_option(actions.add_parser("show", help="the version in force"))
    show.add_argument("--alliance", required=True)
    show.add_argument("--date", type=date.fromisoformat, metavar="DATE",
                      help="in force on this local date (default: today)")
    show.set_defaults(handler=_show)
    listing = add_json_option(actions.add_parser("list", help="every version, latest first"))
    listing.add_argument("--alliance", required=True)
    listing.set_defaults(handler=_list)
    expire = add_json_option(actions.add_parser(
        "expire", help="book the points whose last day has passed to breakage, through the"
                       " account host (nightly: jifen-expiry.timer)"))
    expire.add_argument("--alliance", help="alliance code (default: every alliance)")
    expire.add_argument("--date", type=date.fromisoformat, metavar="DATE",
                        help="expire lots whose last day is before this local date (default:"
                             " today in the alliance's time zone)")
    expire.add_argument("--wait", type=float, default=EXPIRE_WAIT_S_DEFAULT, metavar="S",
                        help="seconds to wait for the host in all (default %(default)s)")
    expire.set_defaults(handler=_expire)
    tier_review.register(actions)
