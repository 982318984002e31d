"""0400 reversal and 0420 reversal advice: undo the original exactly once (host interface §4).

The original is found by field 41 and field 90 (its MTI, STAN and field 7) alone, among the
requests of the retransmission window; fields 2, 3 and 4 of the reversal are not compared.
The card check does not apply: a reversal gives back what an approval took, whatever the card's
status now. In the order of the transaction checks:
- never seen: 25, and a tombstone (memory and reversal_tombstones), so that the original, if it
  arrives later, is declined with 05;
- declined, already reversed, or a request that moved nothing: 00, nothing changes;
- giving back what it took would take a member balance beyond 999,999,999,999 (what field 54
  shows): 61, nothing changes, and the original is flagged for review;
- undoing it would take the member's stored value below zero (a load, exchange or return whose
  stored value was spent since): 51, nothing changes, and the original is flagged for review;
- a purchase that has returns standing: 05, nothing changes, flagged (reverse the returns
  first);
- else: the original's postings negated, as new journal entries of a transaction of kind
  'reversal' naming the original; points may go below zero, like a return's claw-back. The
  original leaves its batch's totals and the return index, and a reversed return gives its
  share of the purchase back; a reversed redemption of a gift puts the gift back in stock.
"""

from __future__ import annotations

from account_host.card_store import Card
from account_host.chart import MONEY_LEDGER, POINTS_LEDGER
from account_host.checks import find_card
from account_host.context import ApplyContext
from account_host.expiry.keeping import record_lots
from account_host.movements import EARNING_TYPES, RETURNABLE_TYPES, Posted, TransactionType
from account_host.returns_index import Returnable
from account_host.state import Merchant
from account_host.tiers.holders import correct
from account_host.transactions.base import (
    CardCheck,
    TransactionKind,
    decline,
    new_posted,
    over_balance_limit,
    record_transaction,
)
from proto.codes import ResponseCode
from proto.fields import parse_original_data
from proto.frames import Answer, Request
from proto.retransmission import retransmission_key

# What a tier standing counted: purchases (their spend or points), and returns (taken off).
_TIER_COUNTED = EARNING_TYPES | {TransactionType.RETURN}
REVIEW_STORED_VALUE_SPENT = "reversal_declined_stored_value_spent"
REVIEW_HAS_RETURNS = "reversal_declined_purchase_has_returns"
REVIEW_BALANCE_LIMIT = "reversal_declined_balance_limit"


def apply_reversal(
    context: ApplyContext, request: Request, card: Card | None, merchant: Merchant | None
) -> Answer:
    assert merchant is not None
    state = context.state
    if not _is_original_data(request.original_data):   # the front checks n42
        return decline(request, ResponseCode.FORMAT_ERROR)
    assert request.original_data is not None
    original = parse_original_data(request.original_data)
    key = retransmission_key(request.terminal_code, original.mti, original.stan,
                             original.transmission_time)
    first = state.retransmissions.lookup(key, context.now_s)
    if first is None:
        if not state.tombstones.is_buried(key, context.now_s):
            state.tombstones.add(key, context.now_s)
            card_found = find_card(state, request.pan, merchant)   # the original's field 2
            context.batch.add_tombstone(request.terminal_code, original.mti, original.stan,
                                        original.transmission_time,
                                        None if card_found is None else card_found.id)
        return decline(request, ResponseCode.ORIGINAL_NOT_FOUND)
    posted = first.posted
    if posted is None or posted.reversed:
        return Answer(request.correlation_id, ResponseCode.APPROVED)
    if _over_limit(context, posted):
        context.batch.add_review(posted.transaction_id, REVIEW_BALANCE_LIMIT)
        return decline(request, ResponseCode.AMOUNT_LIMIT)
    if posted.stored_value_fen > 0 and \
            state.balance(posted.stored_value_account_id) < posted.stored_value_fen:
        context.batch.add_review(posted.transaction_id, REVIEW_STORED_VALUE_SPENT)
        return decline(request, ResponseCode.INSUFFICIENT_FUNDS)
    purchase = None
    if posted.type in RETURNABLE_TYPES and posted.card_id:
        purchase = state.returns.find(posted.purchase_rrn, context.now_s, for_return=False)
        if purchase is not None and purchase.returned > 0:
            context.batch.add_review(posted.transaction_id, REVIEW_HAS_RETURNS)
            return decline(request, ResponseCode.DO_NOT_HONOUR)
    # ---- checked: from here on the reversal is approved and applied ----
    _undo(context, request, merchant, posted, purchase)
    return Answer(request.correlation_id, ResponseCode.APPROVED)


def _over_limit(context: ApplyContext, posted: Posted) -> bool:
    """Whether giving back what the original took would take a member balance beyond the
    most field 54 shows."""
    return (posted.points < 0 and
            over_balance_limit(context, posted.points_account_id, -posted.points)) or \
        (posted.stored_value_fen < 0 and over_balance_limit(
            context, posted.stored_value_account_id, -posted.stored_value_fen))


def _is_original_data(text: str | None) -> bool:
    return text is not None and len(text) == 42 and text.isascii() and text.isdigit()


def _undo(
    context: ApplyContext, request: Request, merchant: Merchant, posted: Posted,
    purchase: Returnable | None,
) -> None:
    state = context.state
    approval = context.approve(with_rrn=False)
    undo = new_posted(approval, TransactionType.REVERSAL, None, request, posted.amount)
    undo.card_id = posted.card_id
    if posted.points:
        undo.points_account_id = context.existing_account(
            posted.points_account_id, posted.card_id, POINTS_LEDGER)
        undo.points_counter_account_id = context.existing_account(
            posted.points_counter_account_id, posted.card_id, POINTS_LEDGER)
        undo.points = -posted.points
        if posted.type in EARNING_TYPES and posted.points > 0:
            earning = context.earning(merchant.alliance_id)
            if earning.counted:   # the caps' room comes back today
                earning.count(state.earn_counters, posted.card_id, -posted.points)
    if posted.stored_value_fen:
        undo.stored_value_account_id = context.existing_account(
            posted.stored_value_account_id, posted.card_id, MONEY_LEDGER)
        undo.stored_value_counter_account_id = context.existing_account(
            posted.stored_value_counter_account_id, posted.card_id, MONEY_LEDGER)
        undo.stored_value_fen = -posted.stored_value_fen
    record_transaction(context, request, approval, undo, merchant,
                       original_transaction_id=posted.transaction_id)
    if posted.points:   # the original's lot moves undone
        record_lots(context, approval.transaction_id, posted.points_account_id,
                    merchant.alliance_id, undo=posted.lots)
    if posted.type == TransactionType.LOTTERY:   # its count, and its prize's stock, back
        restocked = state.lottery.undo(posted.transaction_id)
        if restocked is not None:
            campaign, prize, stock = restocked
            context.batch.set_prize_stock(campaign.id, campaign.table.prizes[prize].code,
                                          stock)
    context.posted = None   # a reversal is not itself reversible
    posted.reversed = True
    batch = state.batches.get(request.terminal_code)
    if batch is not None and batch.number == posted.batch_number:
        batch.count(posted.type, posted.amount, times=-1)
    if posted.gift is not None:
        _restock(context, posted.gift)
    if posted.tier_counted is not False and posted.card_id and posted.type in _TIER_COUNTED:
        # Its holder's rolling total corrected (tiers/): the card by the reversal's field 2
        # (the original's), if it is the original's card.
        tier_card = find_card(state, request.pan, merchant)
        if tier_card is not None and tier_card.id == posted.card_id:
            correct(context, tier_card, posted.amount, abs(posted.points),
                    give_back=posted.type in EARNING_TYPES)
    if purchase is not None:
        purchase.mark_reversed()
    elif posted.type == TransactionType.RETURN:
        returned = state.returns.find(posted.purchase_rrn, context.now_s, for_return=False)
        if returned is not None:
            returned.add_return(-posted.amount, posted.points)   # the claw was -points


def _restock(context: ApplyContext, key: tuple[int, str]) -> None:
    """The gift a reversed redemption took, back in stock (withdrawn or not: it is on the
    shelf again); a gift whose stock is not counted has nothing to write."""
    gift = context.state.gifts.get(key)
    if gift is not None and gift.stock is not None:
        gift.stock += 1
        context.batch.set_gift(*key, gift.stock, gift.active)


REVERSAL = TransactionKind("reversal", apply_reversal, CardCheck.NONE)
