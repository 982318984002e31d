"""Tier standings in the host's state: whose standing a card counts in, the tier a card shows
(tag TR), and the changes purchases, returns and reversals make, each written in the batch of
the request that made it (journal.py, tier_standings). Sans I/O: the state and the batch.

A holder is a number: a member's id, or minus the id of a card without a member, so that one
dict holds both. Nothing here runs for an alliance whose rules in force have no tiers.
"""

from __future__ import annotations

from datetime import date

from account_host.context import ApplyContext
from account_host.state import Card
from account_host.tiers.standing import (
    Standing,
    TierTable,
    count_again,
    count_purchase,
    new_standing,
    take_back,
)

TIER_TAG = "TR"


def holder_of(card: Card) -> int:
    return card.member_id or -card.id


def tier_tags(context: ApplyContext, card: Card) -> dict[str, str] | None:
    """Tag TR of an approved answer for `card`: its holder's tier after the transaction
    (None: the alliance has no tiers)."""
    table = context.earning(card.alliance_id).tiers
    if table is None:
        return None
    return {TIER_TAG: table.code_of(context.state.standings.get(holder_of(card)))}


def tier_percent(context: ApplyContext, table: TierTable, card: Card) -> int:
    """The percent the card's holder earns at, by the tier it holds now."""
    return table.percent_of(context.state.standings.get(holder_of(card)))


def count_purchase_of(
    context: ApplyContext, card: Card, amount_fen: int, points: int,
) -> int:
    """A purchase's spend or points counted in its holder's standing (upgraded when it reaches
    a higher tier's threshold); the holder, or 0 where the alliance has no tiers."""
    earning = context.earning(card.alliance_id)
    table = earning.tiers
    if table is None:
        return 0
    holder = holder_of(card)
    standing = context.state.standings.get(holder)
    if standing is None:
        standing = context.state.standings[holder] = new_standing(table, earning.month)
    count_purchase(table, standing, earning.month, earning.local_date,
                   amount_fen if table.counts_spend else points)
    _write(context, holder, card.alliance_id, standing)
    return holder


def correct(
    context: ApplyContext, holder: int, alliance_id: int, amount_fen: int, points: int,
    *, give_back: bool,
) -> None:
    """A return or a reversal: the count it gives back taken off the holder's rolling total
    (`give_back`), or a reversed return's counted again. Nothing where the alliance has no
    tiers now or the holder has no standing."""
    earning = context.earning(alliance_id)
    table = earning.tiers
    standing = context.state.standings.get(holder) if holder else None
    if table is None or standing is None:
        return
    amount = amount_fen if table.counts_spend else points
    if amount <= 0:
        return
    if give_back:
        take_back(standing, earning.month, amount)
    else:
        count_again(standing, earning.month, amount)
    _write(context, holder, alliance_id, standing)


def _write(context: ApplyContext, holder: int, alliance_id: int, standing: Standing) -> None:
    until = date.fromordinal(standing.until).isoformat() if standing.until else None
    context.batch.set_standing(holder, (
        holder if holder > 0 else None, -holder if holder < 0 else None, alliance_id,
        standing.tier, until, standing.latest, standing.months))
