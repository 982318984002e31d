"""Tiers (会员等级): the part of an alliance's rule document that ranks members by what they
spent, or the points they earned, in a rolling 12 months (docs/rules.md, "Tiers"); and the
months of one holder's standing, packed as the account host keeps and writes them and the
back office reads them back (`jifen member show`).

Both sides use this module, so what the back office accepted and shows is what the host
applies. A holder is a card's member, or the card itself when it has no member.
"""

from __future__ import annotations

import re
import struct
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

# Tag TR is ans..8; codes are capitals and digits, like the lottery's prize codes (LD).
TIER_CODE = re.compile(r"^[A-Z0-9]{1,8}$")
# A coalition sells three to five tiers; ten leaves room and keeps the table a short list.
TIERS_MAX = 10
# The rolling window, in calendar months (the current month and the 11 before it).
MONTHS = 12
# One month's count is kept in 32 bits (42,949,672.95 yuan, or 4,294,967,295 points), clamped
# there. A threshold may not exceed it, so a clamped month still reaches every threshold.
MONTH_COUNT_MAX = 2**32 - 1
THRESHOLD_MAX = MONTH_COUNT_MAX
# A tier's rate is a percent of the points the other rules give (x1 to x10), like a
# multiplier promotion's.
TIER_PERCENT_MIN, TIER_PERCENT_MAX = 100, 1_000

_MONTHS = struct.Struct(f"<{MONTHS}I")
MONTHS_BYTES = _MONTHS.size
EMPTY_MONTHS = bytes(MONTHS_BYTES)


class InvalidTiers(ValueError):
    """A tier table that is not valid (the message says where)."""


class Tier(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One rank: reached when the rolling 12 months' count reaches `threshold` (fen spent, or
    points earned); its members earn `percent` of what the other rules give."""

    code: str
    threshold: Annotated[int, Meta(ge=0, le=THRESHOLD_MAX)]
    percent: int = 100


class Tiers(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The alliance's tiers, lowest first: the first is the base, which every card has."""

    levels: tuple[Tier, ...]
    measure: Literal["spend", "points"] = "spend"


def check_tiers(tiers: Tiers) -> None:
    """What the types cannot say; InvalidTiers names the part."""
    levels = tiers.levels
    if not 1 <= len(levels) <= TIERS_MAX:
        raise InvalidTiers(f"tiers: 1 to {TIERS_MAX} levels")
    for level in levels:
        if not TIER_CODE.match(level.code):
            raise InvalidTiers(f"tier code {level.code!r}: 1-8 capitals or digits")
        if not TIER_PERCENT_MIN <= level.percent <= TIER_PERCENT_MAX:
            raise InvalidTiers(f"tier {level.code}: percent is {TIER_PERCENT_MIN} to"
                               f" {TIER_PERCENT_MAX} (125 = x1.25)")
    if len({level.code for level in levels}) != len(levels):
        raise InvalidTiers("tier codes are unique")
    if levels[0].threshold != 0:
        raise InvalidTiers(f"tier {levels[0].code}: the first (base) tier's threshold is 0")
    for lower, higher in zip(levels, levels[1:], strict=False):
        if higher.threshold <= lower.threshold:
            raise InvalidTiers(f"tier {higher.code}: thresholds rise from tier to tier")
        if higher.percent < lower.percent:
            raise InvalidTiers(f"tier {higher.code}: a higher tier earns no less")


# ---- a holder's months: 12 counts in a ring, indexed by month key modulo 12 -------------
# A month key is year * 12 + month - 1. `latest` is the key of the newest month counted.


def month_key(year: int, month: int) -> int:
    return year * 12 + month - 1


def months_total(months: bytes, latest: int, month: int) -> int:
    """The rolling 12 months' count as of `month`: the months counted that are among `month`
    and the 11 before it."""
    counts = _MONTHS.unpack(months)
    oldest = month - (MONTHS - 1)
    return sum(counts[key % MONTHS] for key in range(max(oldest, latest - (MONTHS - 1)),
                                                        min(latest, month) + 1))


def months_add(months: bytes, latest: int, month: int, amount: int) -> tuple[bytes, int]:
    """`amount` (>= 0) counted in `month` (not before `latest`); the months and the new
    latest. Months that left the window are cleared as the ring turns."""
    assert amount >= 0 and month >= latest, "counts go forward in time"
    counts = list(_MONTHS.unpack(months))
    for key in range(latest + 1, min(month, latest + MONTHS) + 1):
        counts[key % MONTHS] = 0
    slot = month % MONTHS
    counts[slot] = min(MONTH_COUNT_MAX, counts[slot] + amount)
    return _MONTHS.pack(*counts), month


def months_take(months: bytes, latest: int, month: int, amount: int) -> tuple[bytes, int]:
    """`amount` (>= 0) taken off the window of `month`, newest month first, never below zero
    (a return or a reversal): the months and the latest."""
    assert amount >= 0
    months, latest = months_add(months, latest, max(month, latest), 0)
    counts = list(_MONTHS.unpack(months))
    for key in range(latest, latest - MONTHS, -1):
        if not amount:
            break
        taken = min(amount, counts[key % MONTHS])
        counts[key % MONTHS] -= taken
        amount -= taken
    return _MONTHS.pack(*counts), latest
