"""0200/000000 purchase paid in cash or by another card: earns points on the amount.

Points: by the alliance's earn rules (account_host/earning/, docs/rules.md); with none, the
amount in fen x the merchant's points per yuan / 100, rounded down. The member's points
account gains them and the merchant's points-issued account is debited, in one journal
entry; a purchase that earns nothing still has its transaction row, without an entry. Every
purchase is kept in the return index under its RRN. The stored-value purchase and the offline
advice post through `post_purchase` too.
"""

from __future__ import annotations

from account_host.card_store import Card
from account_host.chart import AccountKind
from account_host.context import ApplyContext
from account_host.earning.bonuses import post_referral_bonus
from account_host.expiry.keeping import record_lots
from account_host.expiry.lots import earned_day
from account_host.movements import TransactionType
from account_host.risk.checks import check_velocity, watch_growth
from account_host.state import Merchant
from account_host.tiers.holders import count_purchase_of, tier_percent
from account_host.transactions.base import (
    CardCheck,
    TransactionKind,
    approved,
    decline,
    is_late_original,
    new_posted,
    over_balance_limit,
    record_transaction,
)
from proto.codes import ResponseCode
from proto.frames import Answer, Request

FEN_PER_YUAN = 100


def earned_points(
    context: ApplyContext, merchant: Merchant, amount_fen: int, card: Card | None,
) -> int:
    """What a purchase of `amount_fen` at `merchant` earns now (0 without a card)."""
    if card is None:
        return 0
    earning = context.earning(merchant.alliance_id)
    if earning.rules is None:   # no rules: the merchant's own rate (most purchases, today)
        return amount_fen * merchant.earn_points_per_yuan // FEN_PER_YUAN
    counters = context.state.earn_counters if earning.counted else None
    percent = 100 if earning.tiers is None else tier_percent(context, earning.tiers, card)
    return earning.points(merchant.id, merchant.earn_points_per_yuan, amount_fen, counters,
                          card.id, card.birthday, percent)


def purchase_refusal(
    context: ApplyContext, request: Request, card: Card, merchant: Merchant
) -> tuple[ResponseCode | None, int]:
    """The checks every online purchase makes first, in the spec's order: an amount above
    zero (13), then the points it earns within the balance limit (61); and those points."""
    amount_fen = request.amount or 0
    if amount_fen <= 0:
        return ResponseCode.INVALID_AMOUNT, 0
    code = check_velocity(context, request, card)
    if code is not None:
        return code, 0
    points = earned_points(context, merchant, amount_fen, card)
    if over_balance_limit(context, card.points_account_id, points):
        return ResponseCode.AMOUNT_LIMIT, points
    return None, points


def apply_purchase(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    assert card is not None and merchant is not None
    refusal, points = purchase_refusal(context, request, card, merchant)
    if refusal is not None:
        return decline(request, refusal)
    if is_late_original(context, request):
        return decline(request, ResponseCode.DO_NOT_HONOUR)
    return post_purchase(context, request, card, merchant, TransactionType.PURCHASE,
                         points=points)


def post_purchase(
    context: ApplyContext, request: Request, card: Card, merchant: Merchant,
    transaction_type: TransactionType, *, points: int, from_stored_value: bool = False,
) -> Answer:
    """Approve and post a purchase of field 4 (checked): `points` earned (counted against the
    caps), and the amount taken from the stored value when it pays with it."""
    amount_fen = request.amount or 0
    approval = context.approve()
    assert approval.rrn is not None
    posted = new_posted(approval, transaction_type, card, request, amount_fen)
    if points:
        posted.points_account_id = context.member_points_account(card)
        posted.points_counter_account_id = context.owner_account(
            AccountKind.MERCHANT_POINTS_ISSUED, merchant.id)
        posted.points = points
        earning = context.earning(merchant.alliance_id)
        if earning.counted:
            earning.count(context.state.earn_counters, card.id, points)
    if from_stored_value:
        posted.stored_value_account_id = context.member_stored_value_account(card)
        posted.stored_value_counter_account_id = context.owner_account(
            AccountKind.MERCHANT_STORED_VALUE_SPENT, merchant.id)
        posted.stored_value_fen = -amount_fen
    posted.purchase_rrn = int(approval.rrn)
    # It earned at the tier held before it; now it counts, and may upgrade (TR shows it).
    posted.tier_counted = count_purchase_of(context, card, amount_fen, points)
    record_transaction(context, request, approval, posted, merchant)
    if points:
        watch_growth(context, card, merchant, points, approval.transaction_id)
        posted.lots = record_lots(context, approval.transaction_id, posted.points_account_id,
                                  merchant.alliance_id, earned=points)
    referrals = context.state.referrals
    if referrals.by_card:   # a referred member's first purchase
        referral = referrals.take(card.id)
        if referral is not None:
            post_referral_bonus(context, referral, merchant.alliance_id,
                                approval.transaction_id)
    context.state.returns.add(
        posted.purchase_rrn, context.now_s, approval.transaction_id, card.id, merchant.id,
        amount_fen, points, from_stored_value,
        lot_day=earned_day(posted.lots) if posted.lots else 0)
    return approved(context, request, approval, card, points)


PURCHASE = TransactionKind("purchase", apply_purchase, CardCheck.FULL)
