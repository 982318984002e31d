"""0200/400060 points exchanged into stored value (积分兑换金额存在卡中) at the alliance's rate.

Field 4 is the points (currency 999); the alliance's `exchange_points_per_yuan` points buy
100 fen, so the member gets fen = points x 100 // rate, rounded down. All of field 4 is debited:
the fraction of a fen that the remainder would buy is not paid (the terminal's totals and tag
PT show field 4). An exchange worth 0 fen is 13. Both ledgers move in the same group commit,
through the alliance's exchange accounts: the member's points to alliance_points_exchanged, the
fen from alliance_stored_value_exchange to the member's stored value.
"""

from __future__ import annotations

from account_host.card_store import Card
from account_host.chart import AccountKind
from account_host.context import ApplyContext
from account_host.expiry.keeping import record_lots
from account_host.movements import TransactionType
from account_host.risk.checks import check_velocity
from account_host.state import Merchant
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


def exchanged_fen(points: int, points_per_yuan: int) -> int:
    assert points_per_yuan > 0
    return points * FEN_PER_YUAN // points_per_yuan


def apply_points_exchange(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    assert card is not None and merchant is not None
    state = context.state
    alliance = state.alliances[merchant.alliance_id]
    points = request.amount or 0
    fen = exchanged_fen(points, alliance.exchange_points_per_yuan)
    if points <= 0 or fen <= 0:
        return decline(request, ResponseCode.INVALID_AMOUNT)
    code = check_velocity(context, request, card)
    if code is not None:
        return decline(request, code)
    if over_balance_limit(context, card.stored_value_account_id, fen):
        return decline(request, ResponseCode.AMOUNT_LIMIT)
    if state.balance(card.points_account_id) < points:
        return decline(request, ResponseCode.INSUFFICIENT_FUNDS)
    if is_late_original(context, request):
        return decline(request, ResponseCode.DO_NOT_HONOUR)
    # ---- checked: from here on the exchange is approved and applied ----
    approval = context.approve()
    posted = new_posted(approval, TransactionType.POINTS_EXCHANGE, card, request, points)
    posted.points_account_id = context.member_points_account(card)
    posted.points_counter_account_id = context.owner_account(
        AccountKind.ALLIANCE_POINTS_EXCHANGED, alliance.id)
    posted.points = -points
    posted.stored_value_account_id = context.member_stored_value_account(card)
    posted.stored_value_counter_account_id = context.owner_account(
        AccountKind.ALLIANCE_STORED_VALUE_EXCHANGE, alliance.id)
    posted.stored_value_fen = fen
    record_transaction(context, request, approval, posted, merchant)
    posted.lots = record_lots(context, approval.transaction_id, posted.points_account_id,
                              alliance.id)
    return approved(context, request, approval, card, -points)


POINTS_EXCHANGE = TransactionKind("points_exchange", apply_points_exchange, CardCheck.FULL)
