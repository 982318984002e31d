"""The clearing of one date as a pure function of its journal and the rules in force.

Per merchant (amounts from the merchant's side: + HQ owes the merchant, - it owes HQ):
    points_issued        points P = -(postings on merchant_points_issued)
                         amount = -round(P x issue price)
    points_redeemed      points R = postings on merchant_points_redeemed
                         amount = +round(R x redemption rate)
    stored_value_loaded  amount = postings on merchant_stored_value_loaded (cash it took in)
    stored_value_spent   amount = postings on merchant_stored_value_spent
    commission           amount = -round((R x redemption rate + spent) x bp / 10,000
                                         + fen per transaction x financial transactions)
HQ's own lines, outside the nets (no money changes hands for them at clearing):
    points_exchanged     points = postings on alliance_points_exchanged; amount = postings on
                         alliance_stored_value_exchange (the stored value HQ funded, < 0)
    breakage             points = postings on alliance_breakage; amount = +round(points x the
                         alliance's issue price) (HQ income: expired, or forfeited at closure)
    points_adjusted      points = postings on alliance_points_adjusted; amount = +round(points
                         x the alliance's issue price) (< 0: points the back office gave)
    points_bonus         points = postings on alliance_points_bonus; amount = +round(points x
                         the alliance's issue price) (< 0: points given for joining)
    lottery              points = postings on alliance_points_lottery; amount = +round(points x
                         the alliance's issue price) (> 0: stakes above the points prizes)
    stored_value_adjusted  amount = postings on alliance_stored_value_adjusted (< 0: stored
                         value the back office gave members, which HQ funds)
    stored_value_refunded  amount = -(postings on alliance_stored_value_refunded) (cash HQ
                         paid out to members whose card was closed, < 0)
round() is half up (ties away from zero, so a day and its reversal clear to exact opposites),
once per merchant and category, on the day's aggregate. A merchant's net is the sum of its
amounts; HQ's net is minus their sum, so the nets sum to zero to the fen.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

import msgspec

from clearing.journal import DayJournal
from clearing.rules import RulesInForce

MERCHANT_CATEGORIES = ("points_issued", "points_redeemed", "stored_value_loaded",
                       "stored_value_spent", "commission")
HQ_CATEGORIES = ("points_exchanged", "breakage", "points_adjusted", "points_bonus",
                 "lottery", "stored_value_adjusted", "stored_value_refunded")
_BASIS_POINTS = Decimal(10_000)
# Far more digits than points x price needs (10^12 points x 6 decimals), so nothing rounds
# before the one rounding to whole fen.
_PRECISION_DIGITS = 60

Key = tuple[int | None, str]                 # (merchant id or None for HQ, category)


class Position(msgspec.Struct, frozen=True):
    merchant_id: int | None
    category: str
    points: int
    amount_fen: int
    count: int


class Net(msgspec.Struct, frozen=True):
    merchant_id: int | None                  # None: HQ
    net_fen: int


class Instruction(msgspec.Struct, frozen=True):
    payer_merchant_id: int | None            # None: HQ
    payee_merchant_id: int | None
    amount_fen: int


def round_fen(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def clear_day(journal: DayJournal, rules: RulesInForce, merchant_ids: list[int]) -> list[Position]:
    """Every non-zero position of the date, merchants in id order, then HQ's lines."""
    positions: list[Position] = []
    with localcontext() as context:
        context.prec = _PRECISION_DIGITS
        for merchant_id in sorted(merchant_ids):
            positions += _merchant_positions(journal, rules, merchant_id)
        positions += _hq_positions(journal, rules)
    return [position for position in positions
            if position.points or position.amount_fen or position.count]


def _merchant_positions(
    journal: DayJournal, rules: RulesInForce, merchant_id: int
) -> list[Position]:
    rule = rules.for_merchant(merchant_id)
    issued = -journal.amount("merchant_points_issued", merchant_id)
    redeemed = journal.amount("merchant_points_redeemed", merchant_id)
    loaded = journal.amount("merchant_stored_value_loaded", merchant_id)
    spent = journal.amount("merchant_stored_value_spent", merchant_id)
    transactions = journal.transactions.get(merchant_id, 0)
    reimbursement = redeemed * rule.redemption_rate_fen
    commission = ((reimbursement + spent) * rule.commission_bp / _BASIS_POINTS
                  + rule.commission_fen_per_txn * transactions)
    return [
        Position(merchant_id, "points_issued", issued, -round_fen(issued * rule.issue_price_fen),
                 journal.count("merchant_points_issued", merchant_id)),
        Position(merchant_id, "points_redeemed", redeemed, round_fen(reimbursement),
                 journal.count("merchant_points_redeemed", merchant_id)),
        Position(merchant_id, "stored_value_loaded", 0, loaded,
                 journal.count("merchant_stored_value_loaded", merchant_id)),
        Position(merchant_id, "stored_value_spent", 0, spent,
                 journal.count("merchant_stored_value_spent", merchant_id)),
        Position(merchant_id, "commission", 0, -round_fen(commission), transactions),
    ]


def _hq_positions(journal: DayJournal, rules: RulesInForce) -> list[Position]:
    exchanged = journal.amount("alliance_points_exchanged", None)
    breakage = journal.amount("alliance_breakage", None)
    adjusted = journal.amount("alliance_points_adjusted", None)
    bonus = journal.amount("alliance_points_bonus", None)
    lottery = journal.amount("alliance_points_lottery", None)
    return [
        Position(None, "points_exchanged", exchanged,
                 journal.amount("alliance_stored_value_exchange", None),
                 journal.count("alliance_points_exchanged", None)),
        Position(None, "breakage", breakage,
                 round_fen(breakage * rules.alliance.issue_price_fen),
                 journal.count("alliance_breakage", None)),
        Position(None, "points_adjusted", adjusted,
                 round_fen(adjusted * rules.alliance.issue_price_fen),
                 journal.count("alliance_points_adjusted", None)),
        Position(None, "points_bonus", bonus,
                 round_fen(bonus * rules.alliance.issue_price_fen),
                 journal.count("alliance_points_bonus", None)),
        Position(None, "lottery", lottery,
                 round_fen(lottery * rules.alliance.issue_price_fen),
                 journal.count("alliance_points_lottery", None)),
        Position(None, "stored_value_adjusted", 0,
                 journal.amount("alliance_stored_value_adjusted", None),
                 journal.count("alliance_stored_value_adjusted", None)),
        Position(None, "stored_value_refunded", 0,
                 -journal.amount("alliance_stored_value_refunded", None),
                 journal.count("alliance_stored_value_refunded", None)),
    ]


def settle(positions: list[Position]) -> tuple[list[Net], list[Instruction]]:
    """Nets (merchants in id order, then HQ) and hub-and-spoke instructions through HQ."""
    by_merchant: dict[int, int] = {}
    for position in positions:
        if position.merchant_id is not None:
            by_merchant[position.merchant_id] = (by_merchant.get(position.merchant_id, 0)
                                                 + position.amount_fen)
    nets = [Net(merchant_id, net) for merchant_id, net in sorted(by_merchant.items())]
    nets.append(Net(None, -sum(by_merchant.values())))
    assert sum(net.net_fen for net in nets) == 0, "the nets sum to zero"
    instructions = []
    for net in nets[:-1]:
        if net.net_fen < 0:
            instructions.append(Instruction(net.merchant_id, None, -net.net_fen))
        elif net.net_fen > 0:
            instructions.append(Instruction(None, net.merchant_id, net.net_fen))
    return nets, instructions


def totals(positions: list[Position]) -> dict[Key, Position]:
    """Positions summed by (merchant, category): a run plus its adjustments."""
    summed: dict[Key, Position] = {}
    for position in positions:
        key = (position.merchant_id, position.category)
        before = summed.get(key)
        summed[key] = position if before is None else Position(
            position.merchant_id, position.category, before.points + position.points,
            before.amount_fen + position.amount_fen, before.count + position.count)
    return summed


def deltas(recomputed: list[Position], stored: list[Position]) -> list[Position]:
    """What an adjustment carries: recomputed minus stored, non-zero only, in stable order."""
    now, before = totals(recomputed), totals(stored)
    changed = []
    for key in sorted(now.keys() | before.keys(), key=_order):
        new = now.get(key) or Position(key[0], key[1], 0, 0, 0)
        old = before.get(key) or Position(key[0], key[1], 0, 0, 0)
        delta = Position(key[0], key[1], new.points - old.points,
                         new.amount_fen - old.amount_fen, new.count - old.count)
        if delta.points or delta.amount_fen or delta.count:
            changed.append(delta)
    return changed


def _order(key: Key) -> tuple[int, int, str]:
    merchant_id, category = key
    return (1, 0, category) if merchant_id is None else (0, merchant_id, category)
