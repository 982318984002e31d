"""0200/006000 purchase paid from the card's stored value: debits it (51 when it is short) and
earns points as a cash purchase does, one entry per ledger, in the same group commit."""

from __future__ import annotations

from account_host.card_store import Card
from account_host.context import ApplyContext
from account_host.movements import TransactionType
from account_host.state import Merchant
from account_host.transactions.base import CardCheck, TransactionKind, decline, is_late_original
from account_host.transactions.purchase import post_purchase, purchase_refusal
from proto.codes import ResponseCode
from proto.frames import Answer, Request


def apply_stored_value_purchase(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    assert card is not None and merchant is not None
    refusal, points = purchase_refusal(context, request, card, merchant)
    if refusal is not None:
        return decline(request, refusal)
    if context.state.balance(card.stored_value_account_id) < (request.amount or 0):
        return decline(request, ResponseCode.INSUFFICIENT_FUNDS)
    if is_late_original(context, request):
        return decline(request, ResponseCode.DO_NOT_HONOUR)
    return post_purchase(context, request, card, merchant,
                         TransactionType.STORED_VALUE_PURCHASE, points=points,
                         from_stored_value=True)


STORED_VALUE_PURCHASE = TransactionKind(
    "stored_value_purchase", apply_stored_value_purchase, CardCheck.FULL)
