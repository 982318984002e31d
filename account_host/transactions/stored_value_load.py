"""0200/210000 stored-value load: the member pays cash in at the counter. The member's stored
value gains field 4 (fen) and the merchant's stored-value-loaded account is debited: the
merchant holds that cash for the programme until clearing."""

from __future__ import annotations

from account_host.card_store import Card
from account_host.chart import AccountKind
from account_host.context import ApplyContext
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


def apply_stored_value_load(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    assert card is not None and merchant is not None
    amount_fen = request.amount or 0
    if amount_fen <= 0:
        return decline(request, ResponseCode.INVALID_AMOUNT)
    code = check_velocity(context, request, card)
    if code is not None:
        return decline(request, code)
    if over_balance_limit(context, card.stored_value_account_id, amount_fen):
        return decline(request, ResponseCode.AMOUNT_LIMIT)
    if is_late_original(context, request):
        return decline(request, ResponseCode.DO_NOT_HONOUR)
    # ---- checked: from here on the load is approved and applied ----
    approval = context.approve()
    posted = new_posted(approval, TransactionType.STORED_VALUE_LOAD, card, request, amount_fen)
    posted.stored_value_account_id = context.member_stored_value_account(card)
    posted.stored_value_counter_account_id = context.owner_account(
        AccountKind.MERCHANT_STORED_VALUE_LOADED, merchant.id)
    posted.stored_value_fen = amount_fen
    record_transaction(context, request, approval, posted, merchant)
    return approved(context, request, approval, card, 0)


STORED_VALUE_LOAD = TransactionKind("stored_value_load", apply_stored_value_load, CardCheck.FULL)
