"""Tier standings in the host's state: where a card's standing is kept, the tier a card shows
(tag TR), and the changes purchases, returns and reversals make, each written in the batch of
the request that made it (journal.py: with the card's balance, or in tier_standings). Sans I/O:
the state and the batch.

A member's standing is kept by member id (HostState.member_standings), shared by its cards; a
card without a member keeps its own on the card (Card.standing), which costs no dict entry.
Nothing here runs for an alliance whose rules in force have no tiers.
"""

from __future__ import annotations

from datetime import date

from account_host.card_store import Card
from account_host.context import ApplyContext
from account_host.state import HostState
from account_host.tiers.standing import TierTable, count_again, count_purchase, new_standing
from account_host.tiers.standing import take_back as take_off
from proto.notifications import NotificationKind
from proto.tiers import STANDING_TIER_BYTES, standing_tier

TIER_TAG = "TR"


def standing_of(state: HostState, card: Card) -> bytes | None:
    if card.member_id:
        return state.member_standings.get(card.member_id)
    return card.standing


def tier_tags(context: ApplyContext, card: Card) -> dict[str, str] | None:
    """Tag TR of an approved answer for `card`: its holder's tier after the transaction
    (None: the alliance has no tiers)."""
    table = context.earning(card.alliance_id).tiers
    if table is None:
        return None
    return {TIER_TAG: table.code_of(standing_of(context.state, card))}


def tier_percent(context: ApplyContext, table: TierTable, card: Card) -> int:
    """The percent the card's holder earns at, by the tier it holds now."""
    return table.percent_of(standing_of(context.state, card))


def count_purchase_of(
    context: ApplyContext, card: Card, amount_fen: int, points: int,
) -> bool:
    """A purchase's spend or points counted in its holder's standing (upgraded when it reaches
    a higher tier's threshold); whether it was (not where there are no tiers)."""
    earning = context.earning(card.alliance_id)
    table = earning.tiers
    if table is None:
        return False
    earlier = standing_of(context.state, card)
    standing = earlier or new_standing(table, earning.month)
    store(context, card, earlier, count_purchase(
        table, standing, earning.month, earning.local_date,
        amount_fen if table.counts_spend else points))
    return True


def correct(
    context: ApplyContext, card: Card, amount_fen: int, points: int, *, give_back: bool,
) -> None:
    """A return or a reversal: the count it gives back taken off the holder's rolling total
    (`give_back`), or a reversed return's counted again. Nothing where the alliance has no
    tiers now or the holder has no standing."""
    earning = context.earning(card.alliance_id)
    table = earning.tiers
    standing = standing_of(context.state, card)
    if table is None or standing is None:
        return
    amount = amount_fen if table.counts_spend else points
    if amount > 0:
        store(context, card, standing, take_off(standing, earning.month, amount) if give_back
              else count_again(standing, earning.month, amount))


def store(context: ApplyContext, card: Card, earlier: bytes | None, standing: bytes) -> None:
    """The holder's new standing (`earlier`: its standing_of before, None: new), in memory and
    in this batch's rows: with the card's points balance where the batch writes it, and in the
    holder's own row when it is new or its tier or the tier's last sure day changed (SQL
    selects by those: the nightly review)."""
    member_id = card.member_id
    tier_changed = earlier is None \
        or earlier[:STANDING_TIER_BYTES] != standing[:STANDING_TIER_BYTES]
    if member_id:
        context.state.member_standings[member_id] = standing
    else:
        card.standing = standing
    tier, until = standing_tier(standing)
    if tier_changed:
        _note_tier_change(context, card, earlier, tier)
    context.batch.set_standing(member_id or -card.id, (
        member_id or None, None if member_id else card.id, card.alliance_id, tier,
        date.fromordinal(until).isoformat() if until else None, standing),
        account_id=card.points_account_id,
        row_needed=tier_changed)


def carry_in(context: ApplyContext, card: Card, standing: bytes) -> None:
    """A standing carried from another partition with the holder's card (a replacement into
    this partition's range): kept as it was and written in the holder's row, with no
    notification (the tier did not change)."""
    member_id = card.member_id
    if member_id:
        context.state.member_standings[member_id] = standing
    else:
        card.standing = standing
    tier, until = standing_tier(standing)
    context.batch.set_standing(member_id or -card.id, (
        member_id or None, None if member_id else card.id, card.alliance_id, tier,
        date.fromordinal(until).isoformat() if until else None, standing),
        account_id=card.points_account_id, row_needed=True)


def _note_tier_change(
    context: ApplyContext, card: Card, earlier: bytes | None, tier: str,
) -> None:
    """The member's notification of a new tier (a new holder starts from the base): only
    reached when the standing's tier or its last sure day changed, so rarely."""
    if earlier is not None:
        before = standing_tier(earlier)[0]
    else:
        table = context.earning(card.alliance_id).tiers
        before = table.base if table is not None else tier
    if before != tier:
        context.batch.add_state_event(NotificationKind.TIER_CHANGED, card.id, before, tier)
