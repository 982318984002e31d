"""0200/000000 purchase paid in cash or by another card: earns points on the amount.

Points = amount in fen x the merchant's points per yuan / 100, rounded down. The member's
points account gains them and the merchant's points-issued account is debited, in one journal
entry; a purchase that earns nothing still has its transaction row, without an entry.
"""

from __future__ import annotations

from account_host.context import ApplyContext
from account_host.identifiers import TRANSACTION
from account_host.journal import POINTS_LEDGER
from account_host.state import Card
from account_host.transactions.base import TransactionKind, decline
from proto.codes import ResponseCode
from proto.fields import encode_tlv, signed_points
from proto.frames import Answer, Balances, Request

FEN_PER_YUAN = 100


def apply_purchase(context: ApplyContext, request: Request, card: Card | None) -> Answer:
    assert card is not None
    state = context.state
    amount_fen = request.amount or 0
    if amount_fen <= 0:
        return decline(request, ResponseCode.INVALID_AMOUNT)
    merchant = state.merchants.get(request.merchant_code)
    if merchant is None or not merchant.active or merchant.alliance_id not in state.alliances:
        # The front checked this (03); the host's copy may lag a change by a notification.
        return decline(request, ResponseCode.MERCHANT_INVALID)
    points = amount_fen * merchant.earn_points_per_yuan // FEN_PER_YUAN
    # ---- checked: from here on the purchase is approved and applied ----
    identifiers = context.identifiers
    transaction_id = identifiers.next_id(TRANSACTION)
    rrn = identifiers.next_rrn()
    auth_code = identifiers.next_auth_code()
    entry_date = context.business_date(merchant.alliance_id)
    if points:
        member_account = context.member_points_account(card)
        issued_account = context.merchant_points_issued_account(merchant)
        context.post(transaction_id, POINTS_LEDGER, entry_date,
                     ((member_account, points), (issued_account, -points)))
    context.batch.add_transaction(
        transaction_id, "purchase", entry_date, request, merchant_id=merchant.id,
        card_id=card.id, rrn=rrn, auth_code=auth_code, amount=amount_fen,
        currency=request.currency or "", points=points)
    balances = Balances(state.balance(card.points_account_id),
                        state.balance(card.stored_value_account_id), points)
    return Answer(request.correlation_id, ResponseCode.APPROVED, rrn=rrn, auth_code=auth_code,
                  balances=balances, additional_data=encode_tlv({"PT": signed_points(points)}))


PURCHASE = TransactionKind("purchase", apply_purchase, needs_card=True)
