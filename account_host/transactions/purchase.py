"""0200/000000 purchase paid in cash or by another card: earns points on the amount.

Points = amount in fen x the merchant's points per yuan / 100, rounded down. The member's
points account gains them and the merchant's points-issued account is debited, in one journal
entry; a purchase that earns nothing still has its transaction row, without an entry. Every
purchase is kept in the return index under its RRN. The stored-value purchase and the offline
advice post through `post_purchase` too.
"""

from __future__ import annotations

from account_host.chart import AccountKind
from account_host.context import ApplyContext
from account_host.movements import TransactionType
from account_host.state import Card, Merchant
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


def earned_points(amount_fen: int, merchant: Merchant) -> int:
    return amount_fen * merchant.earn_points_per_yuan // FEN_PER_YUAN


def purchase_refusal(
    context: ApplyContext, request: Request, card: Card, merchant: Merchant
) -> ResponseCode | None:
    """The checks every online purchase makes first, in the spec's order: an amount above
    zero (13), then the points it earns within the balance limit (61)."""
    amount_fen = request.amount or 0
    if amount_fen <= 0:
        return ResponseCode.INVALID_AMOUNT
    if over_balance_limit(context, card.points_account_id, earned_points(amount_fen, merchant)):
        return ResponseCode.AMOUNT_LIMIT
    return None


def apply_purchase(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    assert card is not None and merchant is not None
    refusal = purchase_refusal(context, request, card, merchant)
    if refusal is not None:
        return decline(request, refusal)
    if is_late_original(context, request):
        return decline(request, ResponseCode.DO_NOT_HONOUR)
    return post_purchase(context, request, card, merchant, TransactionType.PURCHASE)


def post_purchase(
    context: ApplyContext, request: Request, card: Card, merchant: Merchant,
    transaction_type: TransactionType, *, from_stored_value: bool = False,
    points: int | None = None,
) -> Answer:
    """Approve and post a purchase of field 4 (checked): `points` earned (by default what the
    merchant's rate gives), and the amount taken from the stored value when it pays with it."""
    amount_fen = request.amount or 0
    if points is None:
        points = earned_points(amount_fen, merchant)
    approval = context.approve()
    assert approval.rrn is not None
    posted = new_posted(approval, transaction_type, card, request, amount_fen)
    if points:
        posted.points_account_id = context.member_points_account(card)
        posted.points_counter_account_id = context.owner_account(
            AccountKind.MERCHANT_POINTS_ISSUED, merchant.id)
        posted.points = points
    if from_stored_value:
        posted.stored_value_account_id = context.member_stored_value_account(card)
        posted.stored_value_counter_account_id = context.owner_account(
            AccountKind.MERCHANT_STORED_VALUE_SPENT, merchant.id)
        posted.stored_value_fen = -amount_fen
    posted.purchase_rrn = int(approval.rrn)
    record_transaction(context, request, approval, posted, merchant)
    context.state.returns.add(
        posted.purchase_rrn, context.now_s, approval.transaction_id, card.id, merchant.id,
        amount_fen, points, from_stored_value)
    return approved(context, request, approval, card, points)


PURCHASE = TransactionKind("purchase", apply_purchase, CardCheck.FULL)
