"""0200/200000 return of (part of) a purchase named by its RRN in field 37.

The original is a purchase (000000, 006000 or 0220) of the same card, posted within the return
window (`return_window_days`) and not reversed; anything else is 25, an RRN of another card
(hence of another alliance) included. Returns may not exceed the purchase's amount in total
(13), and a refund may not take the stored value beyond what field 54 shows (61).

Points are clawed back over the running total: after returns totalling R of a purchase of A
fen that earned P points, floor(P x R / A) points are clawed back in all, so each return claws
back floor(P x R_new / A) less what the standing returns clawed already (never less than 0:
after a reversed return that sum may run ahead by a point), and returning everything claws
back exactly P. The claw may take the points balance below zero. A return of a stored-value
purchase also refunds the returned fen to the stored value. Both go against the purchase's
merchant's accounts (the one that issued the points and took the stored value).
"""

from __future__ import annotations

from account_host.card_store import Card
from account_host.chart import AccountKind
from account_host.context import ApplyContext
from account_host.expiry.keeping import record_lots
from account_host.movements import TransactionType
from account_host.risk.checks import check_velocity
from account_host.state import Merchant
from account_host.tiers.holders import correct
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


def clawed_back(points: int, amount_fen: int, returned_fen: int, clawed_points: int) -> int:
    """Points a return claws back when the purchase's returns reach `returned_fen`."""
    assert 0 <= returned_fen <= amount_fen and amount_fen > 0
    return max(0, points * returned_fen // amount_fen - clawed_points)


def apply_return(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    assert card is not None and merchant is not None
    state = context.state
    amount_fen = request.amount or 0
    if amount_fen <= 0:
        return decline(request, ResponseCode.INVALID_AMOUNT)
    rrn = request.rrn or ""
    purchase = None
    if rrn.isascii() and rrn.isdigit():
        purchase = state.returns.find(int(rrn), context.now_s, for_return=True)
    if purchase is None or purchase.reversed or purchase.card_id != card.id:
        return decline(request, ResponseCode.ORIGINAL_NOT_FOUND)
    returned_fen = purchase.returned + amount_fen
    if returned_fen > purchase.amount:
        return decline(request, ResponseCode.INVALID_AMOUNT)
    code = check_velocity(context, request, card)
    if code is not None:
        return decline(request, code)
    if purchase.paid_from_stored_value and \
            over_balance_limit(context, card.stored_value_account_id, amount_fen):
        return decline(request, ResponseCode.AMOUNT_LIMIT)
    if is_late_original(context, request):
        return decline(request, ResponseCode.DO_NOT_HONOUR)
    # ---- checked: from here on the return is approved and applied ----
    claw = clawed_back(purchase.points, purchase.amount, returned_fen, purchase.clawed)
    approval = context.approve()
    posted = new_posted(approval, TransactionType.RETURN, card, request, amount_fen)
    if claw:
        posted.points_account_id = context.member_points_account(card)
        posted.points_counter_account_id = context.owner_account(
            AccountKind.MERCHANT_POINTS_ISSUED, purchase.merchant_id)
        posted.points = -claw
    if purchase.paid_from_stored_value:
        posted.stored_value_account_id = context.member_stored_value_account(card)
        posted.stored_value_counter_account_id = context.owner_account(
            AccountKind.MERCHANT_STORED_VALUE_SPENT, purchase.merchant_id)
        posted.stored_value_fen = amount_fen
    posted.purchase_rrn = int(rrn)
    posted.tier_counted = context.earning(card.alliance_id).tiers is not None
    if posted.tier_counted:   # off the rolling total
        correct(context, card, amount_fen, claw, give_back=True)
    record_transaction(context, request, approval, posted, merchant,
                       original_transaction_id=purchase.transaction_id)
    if claw:   # from the lot the purchase made first (docs/rules.md, "Expiring points")
        posted.lots = record_lots(context, approval.transaction_id, posted.points_account_id,
                                  card.alliance_id, claw=claw, claw_day=purchase.lot_day)
    purchase.add_return(amount_fen, claw)
    return approved(context, request, approval, card, -claw)


RETURN = TransactionKind("return", apply_return, CardCheck.FULL)
