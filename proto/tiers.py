"""Tiers (会员等级): the part of an alliance's rule document that ranks members by what they
spent, or the points they earned, in a rolling 12 months (docs/rules.md, "Tiers"); and one
holder's standing packed in one value, as the account host keeps and writes it and the back
office reads it back (`jifen member show`).

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


# ---- a holder's standing, packed ------------------------------------------------------
# One bytes value, as the host keeps it in memory (a 62-byte value is a 96-byte object: 10^6
# holders take about 100 MB) and writes it (tier_standings.standing), big-endian:
#   tier code (8 bytes, NUL-padded), until (u32: date.toordinal() of the tier's last sure day,
#   0: the base, for good), latest (u16: the month key of the newest month counted), and
#   12 monthly counts (u32 each), indexed by month key modulo 12.
# A month key is year * 12 + month - 1.

_STANDING = struct.Struct(f">8sIH{MONTHS}I")
STANDING_BYTES = _STANDING.size
_CODE_BYTES = 8


def month_key(year: int, month: int) -> int:
    return year * 12 + month - 1


def tier_field(code: str) -> bytes:
    """A tier code as the standing's first 8 bytes (how a standing's tier is compared)."""
    return code.encode().ljust(_CODE_BYTES, b"\0")


def pack_standing(tier: str, until: int, latest: int, counts: list[int]) -> bytes:
    return _STANDING.pack(tier_field(tier), until, latest, *counts)


def unpack_standing(standing: bytes) -> tuple[str, int, int, list[int]]:
    """(tier code, until, latest month key, the 12 counts)."""
    code, until, latest, *counts = _STANDING.unpack(standing)
    return code.rstrip(b"\0").decode(), until, latest, counts


def counts_total(counts: list[int], latest: int, month: int) -> int:
    """The rolling 12 months' count as of `month`: the months counted that are among `month`
    and the 11 before it."""
    if month == latest:   # the ring holds latest and the 11 months before it, no others
        return sum(counts)
    oldest = month - (MONTHS - 1)
    return sum(counts[key % MONTHS] for key in range(max(oldest, latest - (MONTHS - 1)),
                                                        min(latest, month) + 1))


def counts_add(counts: list[int], latest: int, month: int, amount: int) -> int:
    """`amount` (>= 0) counted in `month` (not before `latest`), in place; the new latest.
    Months that left the window are cleared as the ring turns."""
    assert amount >= 0 and month >= latest, "counts go forward in time"
    for key in range(latest + 1, min(month, latest + MONTHS) + 1):
        counts[key % MONTHS] = 0
    slot = month % MONTHS
    counts[slot] = min(MONTH_COUNT_MAX, counts[slot] + amount)
    return month


def counts_take(counts: list[int], latest: int, month: int, amount: int) -> int:
    """`amount` (>= 0) taken off the window of `month`, newest month first, never below zero
    (a return or a reversal), in place; the new latest."""
    assert amount >= 0
    latest = counts_add(counts, latest, max(month, latest), 0)
    for key in range(latest, latest - MONTHS, -1):
        if not amount:
            break
        taken = min(amount, counts[key % MONTHS])
        counts[key % MONTHS] -= taken
        amount -= taken
    return latest


_HEADER = struct.Struct(">8sI")
# A standing's first bytes: its tier and until. Two standings differ in tier iff these do.
STANDING_TIER_BYTES = _HEADER.size
_LATEST = struct.Struct(">H")
_COUNT = struct.Struct(">I")
_COUNTS = struct.Struct(f">{MONTHS}I")
_LATEST_OFFSET = _HEADER.size
_COUNTS_OFFSET = _LATEST_OFFSET + _LATEST.size


def standing_add(standing: bytes, month: int, amount: int) -> tuple[bytes, int]:
    """`amount` (>= 0) counted in `month` (not before the latest): the new standing and its
    rolling total as of `month`. A month already counted (most purchases) changes one count in
    place, without unpacking the others into a list: about a microsecond."""
    if _LATEST.unpack_from(standing, _LATEST_OFFSET)[0] != month:
        tier, until, latest, counts = unpack_standing(standing)
        latest = counts_add(counts, latest, month, amount)
        return pack_standing(tier, until, latest, counts), counts_total(counts, latest, month)
    assert amount >= 0
    buffer = bytearray(standing)
    offset = _COUNTS_OFFSET + _COUNT.size * (month % MONTHS)
    _COUNT.pack_into(buffer, offset,
                     min(MONTH_COUNT_MAX, _COUNT.unpack_from(buffer, offset)[0] + amount))
    return bytes(buffer), sum(_COUNTS.unpack_from(buffer, _COUNTS_OFFSET))


def standing_with_tier(standing: bytes, tier: str, until: int) -> bytes:
    """The standing with another tier and until (an upgrade), its counts as they are."""
    buffer = bytearray(standing)
    _HEADER.pack_into(buffer, 0, tier_field(tier), until)
    return bytes(buffer)


def standing_tier(standing: bytes) -> tuple[str, int]:
    """A packed standing's tier code and its until (without unpacking the counts)."""
    code, until = _HEADER.unpack_from(standing)
    return code.rstrip(b"\0").decode(), until


def standing_total(standing: bytes, month: int) -> int:
    """A packed standing's rolling total as of `month` (the back office shows it)."""
    _, _, latest, counts = unpack_standing(standing)
    return counts_total(counts, latest, month)
