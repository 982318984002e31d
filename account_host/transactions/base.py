"""The shape of a transaction kind (one module per kind, each exporting a TransactionKind), and
what the kinds share: declines, approved answers, and recording a posted transaction.

A handler checks everything first, in the spec's order (amount 13, original 25, balance 51,
other 05), and writes after; past `context.approve()` it must not fail.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import msgspec

from account_host.card_store import Card
from account_host.context import ApplyContext, Approval
from account_host.movements import Posted, TransactionType
from account_host.state import Merchant
from account_host.tiers.holders import tier_tags
from proto.codes import ResponseCode
from proto.fields import encode_tlv, signed_points
from proto.frames import Answer, Balances, Request

Handler = Callable[[ApplyContext, Request, "Card | None", "Merchant | None"], Answer]
"""Decide one request and, when approved, apply it to the state and the batch."""


class CardCheck(StrEnum):
    NONE = "none"       # no card (0800, 0500), or the handler finds it (a reversal)
    FULL = "full"       # 14, 41, 43, 54, 05 before the handler, which gets the card
    ADVICE = "advice"   # 0220: never declined for the card; the handler gets it or None


class TransactionKind(msgspec.Struct, frozen=True):
    name: str
    handler: Handler
    card_check: CardCheck


# The most a member's points or stored value may reach: field 54 shows 12 digits. A request
# that would credit beyond it is over the amount limit (61).
MEMBER_BALANCE_MAX = 999_999_999_999


def over_balance_limit(context: ApplyContext, account_id: int, credit: int) -> bool:
    return context.state.balance(account_id) + credit > MEMBER_BALANCE_MAX


def decline(request: Request, code: ResponseCode) -> Answer:
    return Answer(request.correlation_id, code)


def is_late_original(context: ApplyContext, request: Request) -> bool:
    """Whether a reversal of this very request came first (tombstone): the last check, 05."""
    return context.state.tombstones.is_buried(context.request_key, context.now_s)


def new_posted(
    approval: Approval, transaction_type: TransactionType, card: Card | None, request: Request,
    amount: int,
) -> Posted:
    """A movement to fill in: nothing moved yet."""
    return Posted(approval.transaction_id, transaction_type, card.id if card else 0,
                  request.batch_number or 0, amount)


def record_transaction(
    context: ApplyContext, request: Request, approval: Approval, posted: Posted,
    merchant: Merchant, original_transaction_id: int | None = None,
) -> None:
    """Post the movement's entries, write its transaction row, count it in the terminal's open
    batch, and hand it to apply.py to remember for a reversal."""
    entry_date = context.business_date(merchant.alliance_id)
    context.post_movement(posted, entry_date)
    context.batch.add_transaction(
        approval.transaction_id, posted.type, entry_date, request, merchant_id=merchant.id,
        card_id=posted.card_id or None, rrn=approval.rrn, auth_code=approval.auth_code,
        amount=posted.amount, currency=request.currency or "", points=posted.points,
        stored_value_fen=posted.stored_value_fen,
        original_transaction_id=original_transaction_id)
    batch = context.state.batch_of(request.terminal_code)
    if request.batch_number == batch.number:
        batch.count(posted.type, posted.amount)
    context.posted = posted


def approved(
    context: ApplyContext, request: Request, approval: Approval, card: Card | None,
    points_moved: int, tags: dict[str, str] | None = None,
) -> Answer:
    """A 0210/0230 approval: RRN, authorisation code, balances after it (54), PT, the
    card's tier after it (TR, where the alliance has tiers) and any other `tags` (48)."""
    state = context.state
    answer_tags = {"PT": signed_points(points_moved)}
    if card is None:
        balances = Balances(0, 0, points_moved)
    else:
        balances = Balances(state.balance(card.points_account_id),
                            state.balance(card.stored_value_account_id), points_moved)
        tier = tier_tags(context, card)
        if tier is not None:
            answer_tags.update(tier)
    if tags:
        answer_tags.update(tags)
    return Answer(request.correlation_id, ResponseCode.APPROVED, rrn=approval.rrn,
                  auth_code=approval.auth_code, balances=balances,
                  additional_data=encode_tlv(answer_tags))
