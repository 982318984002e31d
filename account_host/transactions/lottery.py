"""0200/910000 a points lottery draw (host interface 1.2): the stake (field 4, points) is spent
and the draw (proto.lottery) decides a prize of the alliance's open campaign: points, posted to
the card in the same transaction, a gift, or none. Checks in the spec's order: no open
campaign 12, a stake other than its price 13, a balance below it 51. One journal entry moves
the net (prize points minus the stake) between the member and the alliance's lottery account;
PT and the 0090999 block carry the net, tag LD the prize (NONE: none, or out of stock)."""

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
    record_transaction,
)
from proto.codes import ResponseCode
from proto.frames import Answer, Request

PRIZE_TAG = "LD"


def apply_lottery(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    assert card is not None and merchant is not None
    state = context.state
    campaign = state.lottery.campaigns.get(merchant.alliance_id)
    if campaign is None:
        return decline(request, ResponseCode.INVALID_TRANSACTION)
    stake = request.amount or 0
    if stake != campaign.price:
        return decline(request, ResponseCode.INVALID_AMOUNT)
    code = check_velocity(context, request, card)
    if code is not None:
        return decline(request, code)
    if state.balance(card.points_account_id) < stake:
        return decline(request, ResponseCode.INSUFFICIENT_FUNDS)
    if is_late_original(context, request):
        return decline(request, ResponseCode.DO_NOT_HONOUR)
    # ---- checked: from here on the draw is approved and applied ----
    outcome = state.lottery.draw(campaign, card.id)
    net = outcome.points - stake
    approval = context.approve()
    posted = new_posted(approval, TransactionType.LOTTERY, card, request, stake)
    if net:
        posted.points_account_id = context.member_points_account(card)
        posted.points_counter_account_id = context.owner_account(
            AccountKind.ALLIANCE_POINTS_LOTTERY, merchant.alliance_id)
        posted.points = net
    record_transaction(context, request, approval, posted, merchant)
    if net:   # the stake from the lots, the prize's points to a lot of their own
        posted.lots = record_lots(context, approval.transaction_id, posted.points_account_id,
                                  merchant.alliance_id, earned=outcome.points)
    stock = state.lottery.take(campaign, card.id, outcome, approval.transaction_id,
                               context.now_s)
    context.batch.add_draw(approval.transaction_id, campaign.id, card.id, outcome.draw_number,
                           outcome.value, outcome.code)
    if stock is not None:
        context.batch.set_prize_stock(campaign.id, outcome.code, stock)
    return approved(context, request, approval, card, net, tags={PRIZE_TAG: outcome.code})


LOTTERY = TransactionKind("lottery", apply_lottery, CardCheck.FULL)
