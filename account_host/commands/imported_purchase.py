"""An imported purchase (a line of a merchant's period-end file), sans I/O: posted as a 0220
advice of the merchant's, from its virtual terminal, in the run's batch, with the merchant's
earn rules in force now (the same `post_purchase` as a terminal's purchase and advice).

Unlike a terminal's advice, which the terminal already approved, a line is decided here: the
card check as for a purchase (14 unknown or of another alliance, 41, 43, 05 blocked or closed,
54 expired on the line's date), 03 for a merchant no longer active, 13, 61 for points beyond
what field 54 shows, and 12 for a business date after the open date (the back office checks
that first; the host's clock decides). It posts on the line's business date while that is not
sealed, else on the open date, as a late advice does (docs/clearing.md).
"""

from __future__ import annotations

from datetime import date, datetime

from account_host.checks import check_card
from account_host.commands.item import Command
from account_host.context import ApplyContext
from account_host.movements import TransactionType
from account_host.transactions.purchase import post_purchase, purchase_refusal
from proto.codes import CURRENCY_FEN, Mti, ProcessingCode, ResponseCode
from proto.frames import Request
from proto.purchase_imports import PurchasePayload, run_batch_number, virtual_terminal_code

Outcome = tuple[str, str, int | None]   # result code, reason, transaction id (None: refused)
# STANs of imported purchases: the command id's last six digits, with field 7 (this batch's
# second) the message key stays unique far beyond the 7 days the audit looks at.
_STAN_MODULUS = 1_000_000


def decide_imported_purchase(context: ApplyContext, command: Command) -> Outcome:
    """Checked, then posted; a refusal posts nothing."""
    purchase = command.purchase
    if purchase is None:
        return ResponseCode.INVALID_TRANSACTION, command.invalid or "invalid payload", None
    state = context.state
    merchant = state.merchants_by_id.get(purchase.merchant_id)
    if merchant is None or not merchant.active or merchant.alliance_id not in state.alliances:
        return ResponseCode.MERCHANT_INVALID, f"merchant {purchase.merchant_id} is not active", None
    card = state.cards.get(command.card_hmac)
    if card is None or card.id != purchase.card_id or card.alliance_id != merchant.alliance_id:
        return ResponseCode.CARD_UNKNOWN, "the card is not the merchant's alliance's", None
    if command.card_status == "closed" or card.id in state.closed_cards:
        return ResponseCode.DO_NOT_HONOUR, f"card {card.id} is closed", None
    code = check_card(card, purchase.business_date.toordinal())
    if code is not None:
        return code, _CARD_REFUSALS.get(code, "the card may not transact"), None
    open_date = context.business_date(merchant.alliance_id)
    if purchase.business_date > open_date:
        return (ResponseCode.INVALID_TRANSACTION,
                f"business date {purchase.business_date} is after the open date {open_date}",
                None)
    request = _advice(context.now, command.correlation_id, merchant.merchant_code, purchase)
    refusal, points = purchase_refusal(context, request, card, merchant)
    if refusal is not None:
        reason = "an amount of 0" if refusal == ResponseCode.INVALID_AMOUNT else \
            "the points would take the balance beyond 999,999,999,999"
        return refusal, reason, None
    posting_date = _posting_date(purchase.business_date, open_date,
                                 state.alliances[merchant.alliance_id].sealed_through)
    index = len(context.batch.command_ids)
    context.dated = posting_date
    try:
        post_purchase(context, request, card, merchant, TransactionType.OFFLINE_PURCHASE,
                      points=points)
    finally:
        context.dated = None
    posted = context.posted
    assert posted is not None
    context.batch.name_command(index, posted.transaction_id, command.correlation_id)
    late = "" if posting_date == purchase.business_date else \
        f" (date {purchase.business_date} sealed)"
    return (ResponseCode.APPROVED, f"+{points} points on {posting_date}{late}",
            posted.transaction_id)


def _posting_date(line_date: date, open_date: date, sealed_through: date | None) -> date:
    """The line's date while it is open, else the open date (as a late advice's)."""
    if sealed_through is not None and line_date <= sealed_through:
        return open_date
    return line_date


def _advice(
    now: datetime, command_id: int, merchant_code: str, purchase: PurchasePayload,
) -> Request:
    """The line as the advice its virtual terminal would have sent."""
    return Request(
        command_id, Mti.FINANCIAL_ADVICE, virtual_terminal_code(purchase.merchant_id),
        merchant_code, f"{command_id % _STAN_MODULUS:06d}", now.strftime("%m%d%H%M%S"),
        int(now.timestamp() * 1e9), processing_code=ProcessingCode.PURCHASE,
        amount=purchase.amount_fen, currency=CURRENCY_FEN,
        batch_number=run_batch_number(purchase.run_id))


_CARD_REFUSALS = {
    ResponseCode.CARD_UNKNOWN: "the card is unknown",
    ResponseCode.CARD_LOST: "the card is reported lost",
    ResponseCode.CARD_STOLEN: "the card is reported stolen",
    ResponseCode.CARD_EXPIRED: "the card had expired on the line's date",
    ResponseCode.DO_NOT_HONOUR: "the card is blocked or not active",
}
