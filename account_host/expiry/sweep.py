"""The nightly expiry, sans I/O: a sweep command names a chunk of an alliance's cards and a
date; every lot whose last day is before it goes to the alliance's breakage account, one
transaction per card (kind points_expiry). Idempotent by construction: an expired lot is gone
from the lots, in memory and (in the same statement) in the row, so the same command read
twice, or the job run twice for a date, finds nothing more to book."""

from __future__ import annotations

import msgspec

from account_host.chart import POINTS_LEDGER, AccountKind
from account_host.context import ApplyContext
from account_host.expiry.lots import encode_moves, expire
from proto.host_commands import SweepPayload

POINTS_EXPIRY = "points_expiry"   # transactions.kind


class ExpiryTotals(msgspec.Struct):
    cards: int = 0     # cards whose points expired
    points: int = 0    # points booked to breakage


def expire_points(
    context: ApplyContext, sweep: SweepPayload, cards: tuple[tuple[int, bytes], ...],
) -> ExpiryTotals:
    """Book the chunk's expired lots. A card this host does not hold, of another alliance, or
    without lots due has nothing to book."""
    state = context.state
    through_day = sweep.through.toordinal()
    totals = ExpiryTotals()
    for card_id, pan_hmac in cards:
        card = state.cards.get(pan_hmac)
        if card is None or card.id != card_id or card.alliance_id != sweep.alliance_id:
            continue
        packed = state.lots.get(card.points_account_id)
        if packed is None:
            continue
        left, points, moves = expire(packed, through_day)
        if not points:
            continue
        transaction_id = context.approve(with_rrn=False).transaction_id
        day = context.business_date(card.alliance_id)
        member = context.member_points_account(card)
        breakage = context.owner_account(AccountKind.ALLIANCE_BREAKAGE, card.alliance_id)
        context.post(transaction_id, POINTS_LEDGER, day, ((member, -points),
                                                          (breakage, points)))
        context.batch.add_expiry_transaction(transaction_id, POINTS_EXPIRY, day,
                                             card_id=card.id, points=points)
        if left:
            state.lots[member] = left
        else:
            del state.lots[member]
        encoded = encode_moves(moves)
        assert encoded is not None
        context.batch.set_lot_moves(transaction_id, encoded)
        totals.cards += 1
        totals.points += points
    return totals
