"""0100/310000 balance inquiry: the card's points and stored value, under a new RRN, its tier
(TR) where the alliance has tiers, and tag XP when some of its points expire within the
alliance's warning window. Nothing is posted, and no account is created."""

from __future__ import annotations

from account_host.card_store import Card
from account_host.context import ApplyContext
from account_host.expiry.warning import EXPIRY_TAG, expiry_warning
from account_host.state import Merchant
from account_host.tiers.holders import tier_tags
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
    tags = tier_tags(context, card) or {}
    warning = expiry_warning(context, card)
    if warning is not None:
        tags[EXPIRY_TAG] = warning
    return Answer(request.correlation_id, ResponseCode.APPROVED,
                  rrn=context.identifiers.next_rrn(), balances=balances,
                  additional_data=encode_tlv(tags) if tags else None)


BALANCE_INQUIRY = TransactionKind("balance_inquiry", apply_inquiry, CardCheck.FULL)
