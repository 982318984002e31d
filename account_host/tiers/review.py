"""The nightly tier review, sans I/O (docs/rules.md, "Tiers"): a sweep command names a chunk
of an alliance's cards and a date; the holder of each whose tier's year ended before that date
gets the tier its rolling 12 months reach then (at least the base), for another year when above
the base. Idempotent by construction: a reviewed standing's year ends later (or it is the base
for good), so the same command read twice, or the job run twice for a date, changes nothing
more. A member's cards share a standing: it is reviewed once, whichever of them is named."""

from __future__ import annotations

import msgspec

from account_host.context import ApplyContext
from account_host.tiers.holders import standing_of, store
from account_host.tiers.standing import review
from proto.host_commands import SweepPayload
from proto.tiers import month_key, standing_tier


class ReviewTotals(msgspec.Struct):
    reviewed: int = 0   # holders whose tier's year had ended
    lowered: int = 0    # of which now in a lower tier


def review_tiers(
    context: ApplyContext, sweep: SweepPayload, cards: tuple[tuple[int, bytes], ...],
) -> ReviewTotals:
    """Review the chunk's holders that are due. A card this host does not hold, of another
    alliance, whose alliance has no tiers now, or whose holder is not due, changes nothing."""
    state = context.state
    table = context.earning(sweep.alliance_id).tiers
    totals = ReviewTotals()
    if table is None:
        return totals
    month = month_key(sweep.through.year, sweep.through.month)
    for card_id, pan_hmac in cards:
        card = state.cards.get(pan_hmac)
        if card is None or card.id != card_id or card.alliance_id != sweep.alliance_id:
            continue
        standing = standing_of(state, card)
        if standing is None:
            continue
        reviewed = review(table, standing, month, sweep.through)
        if reviewed is None:
            continue
        totals.reviewed += 1
        if table.rank_of(reviewed) < table.rank_of(standing):
            totals.lowered += 1
        store(context, card, standing, reviewed)
        assert standing_tier(reviewed)[1] == 0 or standing_tier(reviewed)[1] > \
            sweep.through.toordinal(), "a reviewed tier lasts beyond the review"
    return totals
