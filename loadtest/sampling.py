"""Drawing cards and kinds of request: uniform, weighted, or Zipf-skewed over the cards.

Real card traffic is skewed: a few members shop every day. `--cards-skew zipf:1.1` draws the
card of rank k (1 = the most used) with probability proportional to 1 / k^1.1; ranks are given
to the cards in a seeded random order, so the hot cards are not the first issued. Draws come in
blocks from `random.choices` (a C loop), a fraction of a microsecond each.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import msgspec

from loadtest.errors import UsageError

# Draws made at a time: amortises random.choices' call over many requests.
DRAW_BLOCK_SIZE = 4096
UNIFORM = "uniform"


class Skew(msgspec.Struct, frozen=True):
    """How card draws are skewed: exponent None for uniform, else Zipf's exponent."""

    zipf_exponent: float | None = None

    def describe(self) -> str:
        return UNIFORM if self.zipf_exponent is None else f"zipf:{self.zipf_exponent:g}"


def parse_skew(text: str) -> Skew:
    """`uniform` or `zipf:S` with S above 0 (S need not exceed 1: the card count is finite)."""
    text = text.strip().lower()
    if text == UNIFORM:
        return Skew()
    name, _, exponent_text = text.partition(":")
    if name != "zipf":
        raise UsageError(f"card skew {text!r} must be 'uniform' or 'zipf:S', e.g. zipf:1.1")
    try:
        exponent = float(exponent_text)
    except ValueError:
        raise UsageError(f"card skew {text!r}: S must be a number, e.g. zipf:1.1") from None
    if not 0 < exponent <= 10:
        raise UsageError(f"card skew {text!r}: S must be above 0 and at most 10")
    return Skew(exponent)


class IndexSampler:
    """Indices in range(count), drawn uniformly or by cumulative weights, in blocks."""

    def __init__(self, count: int, cumulative_weights: Sequence[float] | None,
                 rng: random.Random) -> None:
        assert count > 0
        assert cumulative_weights is None or len(cumulative_weights) == count
        self._population = range(count)
        self._cumulative_weights = cumulative_weights
        self._rng = rng
        self._block: list[int] = []

    def next(self) -> int:
        if not self._block:
            self._block = self._rng.choices(
                self._population, cum_weights=self._cumulative_weights, k=DRAW_BLOCK_SIZE)
            self._block.reverse()  # pop() from the end, in drawing order
        return self._block.pop()


def zipf_cumulative_weights(count: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks 1..count under Zipf's law with this exponent."""
    return list(itertools.accumulate(rank ** -exponent for rank in range(1, count + 1)))


def card_sampler(card_count: int, skew: Skew, rng: random.Random) -> IndexSampler:
    """Indices of cards; under Zipf, index k is rank k+1, so shuffle the cards beforehand."""
    if skew.zipf_exponent is None:
        return IndexSampler(card_count, None, rng)
    return IndexSampler(card_count, zipf_cumulative_weights(card_count, skew.zipf_exponent), rng)


def weighted_sampler(weights: Sequence[int], rng: random.Random) -> IndexSampler:
    if len(weights) == 1:
        return IndexSampler(1, None, rng)
    return IndexSampler(len(weights), list(itertools.accumulate(weights)), rng)
