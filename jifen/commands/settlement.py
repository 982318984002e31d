"""`jifen settlement-rule set|list`: the settlement rules clearing prices a day with."""

from __future__ import annotations

import argparse
from datetime import date

from back_office.approvals import SETTLEMENT_RULE
from back_office.provisioning.errors import InvalidValueError
from back_office.provisioning.settlement_rules import (
    SettlementRule,
    commission_bp,
    list_rules,
    price_fen,
    set_rule,
)
from database.roles import Role
from jifen.commands.acting import acting_operator
from jifen.commands.approval import print_submitted, submit_request
from jifen.commands.runner import add_json_option, print_json, print_table, run_command

_COLUMNS = ("alliance_code", "merchant_code", "effective_from", "issue_price_fen",
            "redemption_rate_fen", "commission_bp", "commission_fen_per_txn")


def _effective(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidValueError(f"bad effective date {text!r}: expected YYYY-MM-DD") from exc


def _set(args: argparse.Namespace) -> int:
    effective = _effective(args.effective)
    if acting_operator(args) is not None:
        return _request_rule(args, effective)
    rule = run_command(args, Role.BACK_OFFICE, lambda conn: set_rule(
        conn, args.alliance, args.merchant, effective, args.issue_price_fen,
        args.redemption_rate_fen, args.commission_bp, args.commission_fen_per_txn,
        retroactive=args.retroactive,
    ))
    if args.json:
        print_json(rule)
    else:
        print(describe_rule(rule))
    return 0


def _request_rule(args: argparse.Namespace, effective: date) -> int:
    """An operator's rule change is a request a second operator approves (maker-checker);
    its values are checked now, so a request never fails for a typo when approved."""
    payload = {
        "alliance_code": args.alliance, "merchant_code": args.merchant,
        "effective_from": effective.isoformat(),
        "issue_price_fen": str(price_fen(args.issue_price_fen, "issue price")),
        "redemption_rate_fen": str(price_fen(args.redemption_rate_fen, "redemption rate")),
        "commission_bp": commission_bp(args.commission_bp),
        "commission_fen_per_txn": str(price_fen(args.commission_fen_per_txn,
                                                "commission per transaction")),
        "retroactive": args.retroactive,
    }
    owner = f"merchant {args.merchant}" if args.merchant else f"alliance {args.alliance}"
    request = run_command(args, Role.BACK_OFFICE, lambda conn: submit_request(
        conn, args, SETTLEMENT_RULE.name, f"rule of {owner} from {effective}", payload))
    print_submitted(request, args.json)
    return 0


def _list(args: argparse.Namespace) -> int:
    rules = run_command(
        args, Role.BACK_OFFICE, lambda conn: list_rules(conn, args.alliance))
    if args.json:
        print_json(rules)
    else:
        print_table(rules, _COLUMNS)
    return 0


def describe_rule(rule: SettlementRule) -> str:
    owner = (f"merchant {rule.merchant_code}" if rule.merchant_code
             else f"alliance {rule.alliance_code} (default)")
    return (f"rule {rule.id} for {owner} from {rule.effective_from}: issue price "
            f"{rule.issue_price_fen} fen/point, redemption rate {rule.redemption_rate_fen} "
            f"fen/point, commission {rule.commission_bp} bp + {rule.commission_fen_per_txn} "
            f"fen/transaction")


def register(subparsers: argparse._SubParsersAction) -> None:
    rules = subparsers.add_parser(
        "settlement-rule", help="settlement rules clearing uses (prices, 结算比例, commission)")
    actions = rules.add_subparsers(dest="action", metavar="ACTION", required=True)
    setter = actions.add_parser(
        "set", help="add a rule of the alliance, or of one merchant, from a date on",
        description="Prices are exact decimals in fen per point (e.g. 0.5). The rule in force "
                    "for a merchant on a date is its latest effective by then, else the "
                    "alliance's. A rule for a date already cleared is refused unless "
                    "--retroactive (then correct those dates with `jifen clearing adjust`).")
    setter.add_argument("--alliance", required=True, help="alliance code")
    setter.add_argument("--merchant", help="merchant code (field 42); default: the alliance")
    setter.add_argument("--effective", required=True, metavar="YYYY-MM-DD",
                        help="first business date the rule applies to")
    setter.add_argument("--issue-price-fen", required=True, metavar="FEN",
                        help="what the issuing merchant pays HQ per point earned")
    setter.add_argument("--redemption-rate-fen", required=True, metavar="FEN",
                        help="what HQ pays the redeeming merchant per point (结算比例)")
    setter.add_argument("--commission-bp", type=int, default=0, metavar="BP",
                        help="HQ's commission on redemptions + stored value spent, basis points")
    setter.add_argument("--commission-fen-per-txn", default="0", metavar="FEN",
                        help="HQ's commission per financial transaction at the merchant")
    setter.add_argument("--retroactive", action="store_true",
                        help="allow a rule for dates already cleared")
    setter.set_defaults(handler=_set)
    add_json_option(setter)
    listing = actions.add_parser("list", help="list an alliance's rules")
    listing.add_argument("--alliance", required=True, help="alliance code")
    listing.set_defaults(handler=_list)
    add_json_option(listing)
