"""0200/900000 redemption: the member spends points (field 4, currency 999) at the merchant.

With tag GC in field 48 the member takes a gift from the alliance's catalogue: an unknown or
inactive gift code is 12, and field 4 must be the gift's price in points, else 13. A points
balance below field 4 is 51, so a card that a return took to zero or below cannot redeem until
it is above zero again. The member's points go to the merchant's points-redeemed account.
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
    record_transaction,
)
from proto.codes import ResponseCode
from proto.fields import TlvError, parse_tlv
from proto.frames import Answer, Request

GIFT_CODE_TAG = "GC"


def apply_redemption(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    assert card is not None and merchant is not None
    state = context.state
    try:
        gift_code = parse_tlv(request.additional_data or "").get(GIFT_CODE_TAG)
    except TlvError:   # the front checks field 48's TLV; this guards a front that did not
        return decline(request, ResponseCode.FORMAT_ERROR)
    price = None
    if gift_code is not None:
        price = state.gifts.get((merchant.alliance_id, gift_code))
        if price is None:
            return decline(request, ResponseCode.INVALID_TRANSACTION)
    points = request.amount or 0
    if points <= 0 or (price is not None and points != price):
        return decline(request, ResponseCode.INVALID_AMOUNT)
    if state.balance(card.points_account_id) < points:
        return decline(request, ResponseCode.INSUFFICIENT_FUNDS)
    if is_late_original(context, request):
        return decline(request, ResponseCode.DO_NOT_HONOUR)
    # ---- checked: from here on the redemption is approved and applied ----
    approval = context.approve()
    posted = new_posted(approval, TransactionType.REDEMPTION, card, request, points)
    posted.points_account_id = context.member_points_account(card)
    posted.points_counter_account_id = context.owner_account(
        AccountKind.MERCHANT_POINTS_REDEEMED, merchant.id)
    posted.points = -points
    record_transaction(context, request, approval, posted, merchant)
    return approved(context, request, approval, card, -points)


REDEMPTION = TransactionKind("redemption", apply_redemption, CardCheck.FULL)
