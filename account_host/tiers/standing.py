"""A holder's standing and the tier rules, sans I/O (docs/rules.md, "Tiers").

A holder is a card's member (all the member's cards share one standing), or the card itself
when it has no member. Its standing is one packed bytes value (proto/tiers.py): the tier it
holds, the last local day that tier is sure to last (the nightly review decides then), and the
rolling 12 months' counts of what its purchases spent (fen) or earned (points). A change makes
a new value: the state keeps about 100 bytes a holder.

- A purchase counts after it earned: it earns at the tier held before it, and when its count
  takes the rolling total to a higher tier's threshold the holder is upgraded at once, for a
  year (until the same local date next year).
- A return, or the reversal of a purchase, takes what it gives back off the total (newest
  month first, never below zero); the reversal of a return counts its amount again. None of
  them changes the tier: a tier only goes down at the review.
- The review, at the end of a tier's year, keeps the tier the rolling total reaches then (at
  least the base), for another year when it is above the base.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date

from proto.tiers import (
    MONTHS,
    Tiers,
    counts_add,
    counts_take,
    counts_total,
    pack_standing,
    standing_add,
    standing_with_tier,
    tier_field,
    unpack_standing,
)

# A tier lasts a year: until the same local date the next year (28 February for 29 February).
_ONE_YEAR = 1
_CODE_BYTES = 8


class TierTable:
    """One rule version's tiers, ready for the hot path."""

    __slots__ = ("base", "codes", "counts_spend", "percents", "ranks", "thresholds")

    def __init__(self, tiers: Tiers) -> None:
        levels = tiers.levels
        self.codes = tuple(level.code for level in levels)
        self.thresholds = tuple(level.threshold for level in levels)
        self.percents = tuple(level.percent for level in levels)
        # by the standing's first 8 bytes (the code, NUL-padded): no decoding per answer
        self.ranks = {tier_field(code): rank for rank, code in enumerate(self.codes)}
        self.base = self.codes[0]
        self.counts_spend = tiers.measure == "spend"

    def rank_of(self, standing: bytes | None) -> int:
        """The rank held (0: the base, also for a tier this table does not have)."""
        return 0 if standing is None else self.ranks.get(standing[:_CODE_BYTES], 0)

    def rank_reached(self, total: int) -> int:
        """The highest rank whose threshold `total` reaches."""
        return bisect_right(self.thresholds, total) - 1

    def code_of(self, standing: bytes | None) -> str:
        return self.codes[self.rank_of(standing)]

    def percent_of(self, standing: bytes | None) -> int:
        return self.percents[self.rank_of(standing)]


def new_standing(table: TierTable, month: int) -> bytes:
    return pack_standing(table.base, 0, month, [0] * MONTHS)


def count_purchase(
    table: TierTable, standing: bytes, month: int, local_date: date, amount: int,
) -> bytes:
    """A purchase's `amount` (fen or points, as the table measures) counted in `month`, the
    holder upgraded when the total reaches a higher tier: the new standing."""
    standing, total = standing_add(standing, month, amount)
    reached = table.rank_reached(total)
    if reached > table.rank_of(standing):
        return standing_with_tier(standing, table.codes[reached],
                                  year_later(local_date).toordinal())
    return standing


def take_back(standing: bytes, month: int, amount: int) -> bytes:
    """A return's or a reversal's `amount` off the rolling total; the tier stays."""
    tier, until, latest, counts = unpack_standing(standing)
    latest = counts_take(counts, latest, month, amount)
    return pack_standing(tier, until, latest, counts)


def count_again(standing: bytes, month: int, amount: int) -> bytes:
    """A reversed return's amount counted again (it does not upgrade: a purchase does)."""
    tier, until, latest, counts = unpack_standing(standing)
    latest = counts_add(counts, latest, max(month, latest), amount)
    return pack_standing(tier, until, latest, counts)


def review(table: TierTable, standing: bytes, month: int, local_date: date) -> bytes | None:
    """The review of a tier whose year ended before `local_date`: the tier the rolling total
    reaches now, for another year when above the base. None: not due (still within its year,
    or the base for good)."""
    tier, until, latest, counts = unpack_standing(standing)
    if not until or until >= local_date.toordinal():
        return None
    reached = table.rank_reached(counts_total(counts, latest, month))
    return pack_standing(table.codes[reached],
                         year_later(local_date).toordinal() if reached else 0, latest, counts)


def until_of(standing: bytes) -> int:
    """The tier's last sure day (a date ordinal; 0: none)."""
    return unpack_standing(standing)[1]


def year_later(local_date: date) -> date:
    try:
        return local_date.replace(year=local_date.year + _ONE_YEAR)
    except ValueError:   # 29 February
        return local_date.replace(year=local_date.year + _ONE_YEAR, day=28)
