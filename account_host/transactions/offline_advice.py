"""0220/000000 offline purchase advice: the terminal approved it while the host was unreachable,
so the host acknowledges it (00) and posts it as a purchase even where the card check would have
declined it (lost, stolen, blocked, expired, or over the balance limit, 61); such an advice is
flagged in review_items.

An advice for a card this host does not know (or of another alliance) is acknowledged and
recorded as a transaction without postings, and flagged. The spec's own answers stand: a closed
batch gets 12 (before this handler), an amount of zero 13, and the late original of a
remembered reversal 05.
"""

from __future__ import annotations

from account_host.card_store import Card
from account_host.checks import review_reason
from account_host.context import ApplyContext
from account_host.movements import TransactionType
from account_host.state import Merchant
from account_host.tiers.holders import TIER_TAG
from account_host.transactions.base import (
    MEMBER_BALANCE_MAX,
    CardCheck,
    TransactionKind,
    approved,
    decline,
    is_late_original,
    new_posted,
    over_balance_limit,
    record_transaction,
)
from account_host.transactions.purchase import earned_points, post_purchase
from proto.codes import ResponseCode
from proto.frames import Answer, Request

# The points it earns take the balance beyond what field 54 shows (999,999,999,999).
REVIEW_BALANCE_LIMIT = "balance_limit"


def apply_offline_advice(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    assert merchant is not None
    amount_fen = request.amount or 0
    if amount_fen <= 0:
        return decline(request, ResponseCode.INVALID_AMOUNT)
    if is_late_original(context, request):
        return decline(request, ResponseCode.DO_NOT_HONOUR)
    reasons = [review_reason(card, context.today_ordinal)]
    points = earned_points(context, merchant, amount_fen, card)
    if card is not None and over_balance_limit(context, card.points_account_id, points):
        reasons.append(REVIEW_BALANCE_LIMIT)
        points = max(0, MEMBER_BALANCE_MAX - context.state.balance(card.points_account_id))
    if card is None:
        approval = context.approve()
        posted = new_posted(approval, TransactionType.OFFLINE_PURCHASE, None, request,
                            amount_fen)
        record_transaction(context, request, approval, posted, merchant)
        table = context.earning(merchant.alliance_id).tiers   # no card: the base tier
        answer = approved(context, request, approval, None, 0,
                          tags={TIER_TAG: table.base} if table is not None else None)
    else:
        answer = post_purchase(context, request, card, merchant,
                               TransactionType.OFFLINE_PURCHASE, points=points)
    assert context.posted is not None
    for reason in reasons:
        if reason is not None:
            context.batch.add_review(context.posted.transaction_id, reason)
    return answer


OFFLINE_PURCHASE = TransactionKind("offline_purchase", apply_offline_advice, CardCheck.ADVICE)
