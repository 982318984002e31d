"""Card and kind draws: uniform, weighted, and Zipf-skewed."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from loadtest.errors import UsageError
from loadtest.sampling import (
    DRAW_BLOCK_SIZE,
    Skew,
    card_sampler,
    parse_skew,
    weighted_sampler,
    zipf_cumulative_weights,
)

DRAWS = 50_000


def draw(sampler, count: int = DRAWS) -> Counter[int]:
    return Counter(sampler.next() for _ in range(count))


class TestParseSkew:
    def test_uniform(self) -> None:
        assert parse_skew("uniform") == Skew()
        assert Skew().describe() == "uniform"

    def test_zipf(self) -> None:
        assert parse_skew("Zipf:1.1") == Skew(1.1)
        assert parse_skew("zipf:0.8").describe() == "zipf:0.8"

    @pytest.mark.parametrize("text", ["zipf", "zipf:", "zipf:x", "zipf:0", "zipf:-1", "pareto:1"])
    def test_malformed(self, text: str) -> None:
        with pytest.raises(UsageError):
            parse_skew(text)


class TestZipf:
    def test_cumulative_weights(self) -> None:
        assert zipf_cumulative_weights(3, 1.0) == pytest.approx([1.0, 1.5, 1.5 + 1 / 3])

    def test_frequencies_follow_the_law(self) -> None:
        cards, exponent = 1_000, 1.1
        counts = draw(card_sampler(cards, Skew(exponent), random.Random(7)))
        total = zipf_cumulative_weights(cards, exponent)[-1]
        for rank in (1, 2, 10):
            expected = DRAWS * rank ** -exponent / total
            assert counts[rank - 1] == pytest.approx(expected, rel=0.1)
        assert counts[0] > counts[1] > counts[9] > counts[99]

    def test_an_exponent_below_one_still_skews(self) -> None:
        counts = draw(card_sampler(1_000, Skew(0.5), random.Random(7)))
        assert counts[0] > 3 * DRAWS / 1_000

    def test_same_seed_same_draws(self) -> None:
        first = card_sampler(100, Skew(1.2), random.Random(3))
        second = card_sampler(100, Skew(1.2), random.Random(3))
        assert [first.next() for _ in range(DRAW_BLOCK_SIZE + 10)] == \
            [second.next() for _ in range(DRAW_BLOCK_SIZE + 10)]


class TestUniformAndWeighted:
    def test_uniform_covers_every_card_evenly(self) -> None:
        counts = draw(card_sampler(10, Skew(), random.Random(1)))
        assert set(counts) == set(range(10))
        assert all(count == pytest.approx(DRAWS / 10, rel=0.1) for count in counts.values())

    def test_weights(self) -> None:
        counts = draw(weighted_sampler([80, 20], random.Random(1)))
        assert counts[0] / DRAWS == pytest.approx(0.8, abs=0.01)

    def test_one_kind(self) -> None:
        assert set(draw(weighted_sampler([5], random.Random(1)), 100)) == {0}
