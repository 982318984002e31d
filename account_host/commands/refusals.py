"""What every command kind's decision shares: its refusal (a code and a reason, nothing
posted), the card it acts on as this host holds it, the balance limit, its transaction, and a
card closed by it."""

from __future__ import annotations

from datetime import date

from account_host.card_store import Card
from account_host.context import ApplyContext
from account_host.transactions.base import over_balance_limit
from proto.codes import ResponseCode

# Not in proto.codes' terminal set: a transaction the cardholder's programme does not permit.
NOT_PERMITTED = "57"
CLOSED = "closed"

Outcome = tuple[str, str, int | None]   # result code, reason, transaction id (None: refused)


class Refused(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def held_card(context: ApplyContext, pan_hmac: bytes, card_id: int) -> Card:
    """The card as this host holds it, closed or not (14: not on this host)."""
    card = context.state.cards.get(pan_hmac)
    if card is None or card.id != card_id:
        raise Refused(ResponseCode.CARD_UNKNOWN, f"card {card_id} is not on this host")
    return card


def open_card(context: ApplyContext, pan_hmac: bytes, card_id: int, status: str) -> Card:
    """The card as this host holds it, not closed (05)."""
    card = held_card(context, pan_hmac, card_id)
    if status == CLOSED or card.id in context.state.closed_cards:
        raise Refused(ResponseCode.DO_NOT_HONOUR, f"card {card_id} is closed")
    return card


def check_limit(context: ApplyContext, account_id: int, credit: int) -> None:
    if over_balance_limit(context, account_id, credit):
        raise Refused(ResponseCode.AMOUNT_LIMIT, "the balance would exceed 999,999,999,999")


def new_transaction(context: ApplyContext, card: Card) -> tuple[int, date]:
    """A new transaction's id, and the business date it posts on (the card's alliance's)."""
    return context.approve(with_rrn=False).transaction_id, context.business_date(
        card.alliance_id)


def close_card(context: ApplyContext, card: Card, transaction_id: int) -> None:
    """Closed by the command of `transaction_id`: 05 from now on, and its status row written
    in the batch."""
    card.decline_code = ResponseCode.DO_NOT_HONOUR
    context.state.closed_cards.add(card.id)
    context.batch.set_card_status(card.id, CLOSED, transaction_id)
