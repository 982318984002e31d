"""A holder's standing and the tier rules, sans I/O (docs/rules.md, "Tiers").

A holder is a card's member (all the member's cards share one standing), or the card itself
when it has no member. Its standing is the tier it holds, the last local day that tier is
sure to last (the nightly review decides then), and the rolling 12 months' count of what its
purchases spent (fen) or earned (points), a 32-bit count per month (proto/tiers.py).

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

import msgspec

from proto.tiers import EMPTY_MONTHS, Tiers, months_add, months_take, months_total

# A tier lasts a year: until the same local date the next year (28 February for 29 February).
_ONE_YEAR = 1


class Standing(msgspec.Struct, gc=False):
    """One holder's standing: about 130 bytes with its months (the ints are shared)."""

    tier: str           # the tier code held; one the table in force lacks counts as the base
    until: int          # date.toordinal() of the tier's last sure day; 0: the base, for good
    latest: int         # the month key of the newest month counted (proto.tiers.month_key)
    months: bytes       # the months' counts (proto.tiers)


class TierTable:
    """One rule version's tiers, ready for the hot path."""

    __slots__ = ("base", "codes", "counts_spend", "percents", "ranks", "thresholds")

    def __init__(self, tiers: Tiers) -> None:
        levels = tiers.levels
        self.codes = tuple(level.code for level in levels)
        self.thresholds = tuple(level.threshold for level in levels)
        self.percents = tuple(level.percent for level in levels)
        self.ranks = {code: rank for rank, code in enumerate(self.codes)}
        self.base = self.codes[0]
        self.counts_spend = tiers.measure == "spend"

    def rank_of(self, standing: Standing | None) -> int:
        """The rank held (0: the base, also for a tier this table does not have)."""
        return 0 if standing is None else self.ranks.get(standing.tier, 0)

    def rank_reached(self, total: int) -> int:
        """The highest rank whose threshold `total` reaches."""
        return bisect_right(self.thresholds, total) - 1

    def code_of(self, standing: Standing | None) -> str:
        return self.codes[self.rank_of(standing)]

    def percent_of(self, standing: Standing | None) -> int:
        return self.percents[self.rank_of(standing)]


def new_standing(table: TierTable, month: int) -> Standing:
    return Standing(table.base, 0, month, EMPTY_MONTHS)


def count_purchase(
    table: TierTable, standing: Standing, month: int, local_date: date, amount: int,
) -> bool:
    """Count a purchase's `amount` (fen or points, as the table measures) in `month`, and
    upgrade the holder when the total reaches a higher tier: whether it was upgraded."""
    standing.months, standing.latest = months_add(standing.months, standing.latest, month,
                                                  amount)
    reached = table.rank_reached(months_total(standing.months, standing.latest, month))
    if reached <= table.rank_of(standing):
        return False
    standing.tier = table.codes[reached]
    standing.until = year_later(local_date).toordinal()
    return True


def take_back(standing: Standing, month: int, amount: int) -> None:
    """A return's or a reversal's `amount` off the rolling total; the tier stays."""
    standing.months, standing.latest = months_take(standing.months, standing.latest, month,
                                                   amount)


def count_again(standing: Standing, month: int, amount: int) -> None:
    """A reversed return's amount counted again (it does not upgrade: a purchase does)."""
    standing.months, standing.latest = months_add(standing.months, standing.latest,
                                                  max(month, standing.latest), amount)


def review(table: TierTable, standing: Standing, month: int, local_date: date) -> bool:
    """The review of a tier whose year ended by `local_date`: the tier the rolling total
    reaches now, for another year when above the base (a holder still below its year's end is
    not reviewed). Whether the standing changed."""
    if not standing.until or standing.until >= local_date.toordinal():
        return False
    reached = table.rank_reached(months_total(standing.months, standing.latest, month))
    standing.tier = table.codes[reached]
    standing.until = year_later(local_date).toordinal() if reached else 0
    return True


def year_later(local_date: date) -> date:
    try:
        return local_date.replace(year=local_date.year + _ONE_YEAR)
    except ValueError:   # 29 February
        return local_date.replace(year=local_date.year + _ONE_YEAR, day=28)
