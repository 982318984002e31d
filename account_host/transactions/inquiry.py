"""0100/310000 balance inquiry: the card's points and stored value, under a new RRN, and tag XP
when some of its points expire within the alliance's warning window. Nothing is posted, and
no account is created."""

from __future__ import annotations

from account_host.context import ApplyContext
from account_host.expiry.warning import EXPIRY_TAG, expiry_warning
from account_host.state import Card, Merchant
from account_host.transactions.base import CardCheck, TransactionKind, decline, is_late_original
from proto.codes import ResponseCode
from proto.fields import encode_tlv
from proto.frames import Answer, Balances, Request


def apply_inquiry(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    assert card is not None
    if is_late_original(context, request):
        return decline(request, ResponseCode.DO_NOT_HONOUR)
    state = context.state
    balances = Balances(state.balance(card.points_account_id),
                        state.balance(card.stored_value_account_id))
    warning = expiry_warning(context, card)
    return Answer(request.correlation_id, ResponseCode.APPROVED,
                  rrn=context.identifiers.next_rrn(), balances=balances,
                  additional_data=None if warning is None
                  else encode_tlv({EXPIRY_TAG: warning}))


BALANCE_INQUIRY = TransactionKind("balance_inquiry", apply_inquiry, CardCheck.FULL)
