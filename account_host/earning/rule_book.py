"""An alliance's rule versions, compiled against its merchants: per merchant its base rate and
the promotions that concern it, so that a purchase looks up one dict and filters a short list."""

from __future__ import annotations

from bisect import bisect_right
from datetime import date

import msgspec

from account_host.tiers.standing import TierTable
from proto.earn_rules import EarnRules, Promotion, Rate

# A compiled version of no rules at all: every purchase earns its merchant's own rate.
_NO_PROMOTIONS: tuple[Promotion, ...] = ()


class CompiledRules(msgspec.Struct, frozen=True):
    """One version, ready for the hot path."""

    effective_from: date
    rules: EarnRules
    # merchant id -> its base rate from the document (absent: the merchant's own rate)
    rates: dict[int, Rate]
    # merchant id -> the promotions that may apply to it (alliance-wide and its own)
    promotions: dict[int, tuple[Promotion, ...]]
    alliance_promotions: tuple[Promotion, ...]
    tiers: TierTable | None = None   # the version's tiers (None: the alliance has none)

    def promotions_of(self, merchant_id: int) -> tuple[Promotion, ...]:
        return self.promotions.get(merchant_id, self.alliance_promotions)


class RuleBook:
    """The versions of one alliance, by effective date."""

    __slots__ = ("_starts", "_versions")

    def __init__(self, versions: list[CompiledRules]) -> None:
        versions = sorted(versions, key=lambda version: version.effective_from)
        self._versions = versions
        self._starts = [version.effective_from for version in versions]

    def in_force(self, local_date: date) -> CompiledRules | None:
        """The version of `local_date`: the latest in force from that date or before."""
        index = bisect_right(self._starts, local_date)
        return self._versions[index - 1] if index else None


def compile_rules(
    effective_from: date, rules: EarnRules, merchants: dict[str, tuple[int, str | None]],
) -> CompiledRules:
    """`merchants`: the alliance's merchants, code -> (id, category). A merchant the document
    names that the alliance no longer has is left out (the back office checked it when the
    version was written)."""
    table = rules.rates
    rates: dict[int, Rate] = {}
    for code, (merchant_id, category) in merchants.items():
        rate = table.merchants.get(code) or (table.categories.get(category) if category
                                             else None) or table.default
        if rate is not None:
            rates[merchant_id] = rate
    alliance_wide = tuple(p for p in rules.promotions if not p.merchants)
    promotions: dict[int, tuple[Promotion, ...]] = {}
    for promotion in rules.promotions:
        for code in promotion.merchants:
            if code in merchants:
                merchant_id = merchants[code][0]
                promotions[merchant_id] = promotions.get(merchant_id, alliance_wide) \
                    + (promotion,)
    return CompiledRules(effective_from, rules, rates, promotions,
                         alliance_wide or _NO_PROMOTIONS,
                         TierTable(rules.tiers) if rules.tiers is not None else None)
