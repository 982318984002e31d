"""0200/900000 redemption: the member spends points (field 4, currency 999) at the merchant.

With tag GC in field 48 the member takes a gift from the alliance's catalogue that this host
keeps: an unknown gift code is 12, and field 4 must be the gift's price in points, else 13.
With tag OA (the whole order in fen) the points pay part of an order: they are worth the
alliance's exchange rate (the one 400060 uses), and may pay at most the alliance's share of
the order, compared exactly in integers, else 61. GC and OA together are 30 (the front checks
that, and OA's format, before; request_fields.py again). A points balance below field 4 is 51,
so a card that a return took to zero or below cannot redeem until it is above zero again. A
withdrawn gift, or one out of stock, is 05 (host interface §4: any other refusal, after 51).
The member's points go to the merchant's points-redeemed account; a gift's stock goes down by
one in the same batch statement, and its reversal gives it back (reversal.py).
"""

from __future__ import annotations

from account_host.card_store import Card
from account_host.chart import AccountKind
from account_host.context import ApplyContext
from account_host.expiry.keeping import record_lots
from account_host.movements import TransactionType
from account_host.risk.checks import check_velocity
from account_host.state import Alliance, Gift, Merchant
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
from proto.fields import GIFT_CODE_TAG, ORDER_AMOUNT_TAG, TlvError, parse_tlv, request_tags_fit
from proto.frames import Answer, Request

# Basis points in a whole (order_points_share_bp), and fen in a yuan (the exchange rate is
# points per yuan): the share cap is compared as integers scaled by both, never rounded.
_BASIS_POINTS = 10_000
_FEN_PER_YUAN = 100


def apply_redemption(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    assert card is not None and merchant is not None
    state = context.state
    try:
        tags = parse_tlv(request.additional_data or "")
    except TlvError:   # the front checks field 48's TLV; this guards a front that did not
        return decline(request, ResponseCode.FORMAT_ERROR)
    if not request_tags_fit(tags):
        return decline(request, ResponseCode.FORMAT_ERROR)
    gift_code = tags.get(GIFT_CODE_TAG)
    gift = None
    if gift_code is not None:
        gift = state.gifts.get((merchant.alliance_id, gift_code))
        if gift is None:
            return decline(request, ResponseCode.INVALID_TRANSACTION)
    points = request.amount or 0
    if points <= 0 or (gift is not None and points != gift.points):
        return decline(request, ResponseCode.INVALID_AMOUNT)
    code = check_velocity(context, request, card)
    if code is not None:
        return decline(request, code)
    order = tags.get(ORDER_AMOUNT_TAG)
    if order is not None and over_order_share(state.alliances[merchant.alliance_id], points,
                                              int(order)):
        return decline(request, ResponseCode.AMOUNT_LIMIT)
    if state.balance(card.points_account_id) < points:
        return decline(request, ResponseCode.INSUFFICIENT_FUNDS)
    if gift is not None and not is_available(gift):
        return decline(request, ResponseCode.DO_NOT_HONOUR)
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
    posted.lots = record_lots(context, approval.transaction_id, posted.points_account_id,
                              merchant.alliance_id)
    if gift is not None:
        assert gift_code is not None
        take_gift(context, gift, (merchant.alliance_id, gift_code), approval.transaction_id)
        posted.gift = (merchant.alliance_id, gift_code)
    return approved(context, request, approval, card, -points)


def over_order_share(alliance: Alliance, points: int, order_fen: int) -> bool:
    """Whether `points` pay more of an order of `order_fen` than the alliance's share: points x
    fen per point > share x order, with fen per point = 100 / points per yuan, scaled to
    integers (no rounding either way)."""
    return points * _FEN_PER_YUAN * _BASIS_POINTS > \
        alliance.order_points_share_bp * order_fen * alliance.exchange_points_per_yuan


def is_available(gift: Gift) -> bool:
    """Not withdrawn, and in stock (or not counted)."""
    return gift.active and (gift.stock is None or gift.stock > 0)


def take_gift(context: ApplyContext, gift: Gift, key: tuple[int, str],
              transaction_id: int) -> None:
    """One gift out of stock, with the redemption that took it, in the batch."""
    if gift.stock is not None:
        assert gift.stock > 0, "checked: a gift out of stock is 05"
        gift.stock -= 1
        context.batch.set_gift(*key, gift.stock, gift.active)
    context.batch.add_gift_redemption(transaction_id, *key)


REDEMPTION = TransactionKind("redemption", apply_redemption, CardCheck.FULL)
