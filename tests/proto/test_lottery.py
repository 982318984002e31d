"""The lottery's draw (proto/lottery.py): prize frequencies over 10^5 draws within the table's
probabilities (chi-square), a draw a pure function of secret, card and number, and stock that
never goes below zero (account_host/lottery/book.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from account_host.lottery.book import Campaign, LotteryBook
from proto.lottery import (
    NO_PRIZE,
    InvalidPrizeTable,
    Prize,
    PrizeKind,
    PrizeTable,
    check_table,
    draw_value,
    prize_index,
)

SECRET = bytes(range(32))
TABLE = PrizeTable((Prize("BIG", PrizeKind.POINTS, 1_000, points=10_000),
                    Prize("MUG", PrizeKind.GIFT, 20_000, gift_code="MUG01"),
                    Prize("SMALL", PrizeKind.POINTS, 150_000, points=50)))
# The chi-square bound for 3 degrees of freedom at p = 0.001: a fair draw exceeds it once in
# a thousand tables; the draws here are fixed, so the test is deterministic.
CHI_SQUARE_3_DOF_P001 = 16.27


def test_frequencies_over_100000_draws_fit_the_table() -> None:
    draws = 100_000
    counts: Counter[int | None] = Counter(
        prize_index(TABLE, draw_value(SECRET, card_id, number))
        for card_id in range(1, 1_001) for number in range(100))
    expected = {0: 0.001, 1: 0.02, 2: 0.15, None: 1 - 0.171}
    chi_square = sum((counts[index] - draws * p) ** 2 / (draws * p)
                     for index, p in expected.items())
    assert chi_square < CHI_SQUARE_3_DOF_P001, (counts, chi_square)


def test_a_draw_is_a_function_of_secret_card_and_number() -> None:
    assert draw_value(SECRET, 7, 3) == draw_value(SECRET, 7, 3)
    assert len({draw_value(SECRET, 7, n) for n in range(50)}) > 45
    assert draw_value(SECRET, 7, 3) != draw_value(bytes(32), 7, 3)
    assert all(0 <= draw_value(SECRET, card, 0) < 1_000_000 for card in range(100))


def test_stock_never_goes_below_zero_and_a_reversal_restores_it() -> None:
    everything = PrizeTable((Prize("ONLY", PrizeKind.POINTS, 1_000_000, points=5, stock=1),))
    book = LotteryBook(3_600)
    campaign = Campaign(1, 1, 10, everything, SECRET, [1])
    book.replace_campaigns([campaign])
    first = book.draw(campaign, card_id=9)
    assert (first.code, book.take(campaign, 9, first, 100, 0)) == ("ONLY", 0)
    second = book.draw(campaign, card_id=9)
    assert (second.code, second.prize, second.draw_number) == (NO_PRIZE, None, 1)
    book.take(campaign, 9, second, 101, 0)
    assert campaign.stock == [0]
    assert book.undo(101) is None                # nothing to restock for a NONE
    assert book.undo(100) == (campaign, 0, 1)    # stock and count back
    again = book.draw(campaign, card_id=9)
    assert (again.draw_number, again.code) == (0, "ONLY")   # the same outcome as the first


@pytest.mark.parametrize(("prizes", "said"), [
    ((Prize("A", PrizeKind.POINTS, 600_000, points=1),
      Prize("B", PrizeKind.POINTS, 500_000, points=1)), "add up to more than"),
    ((Prize("none", PrizeKind.POINTS, 1, points=1),), "1-8 capitals"),
    ((Prize("G", PrizeKind.GIFT, 1),), "names its gift_code"),
    ((Prize("P", PrizeKind.POINTS, 1),), "a points prize has points"),
])
def test_a_table_that_cannot_be(prizes, said) -> None:
    with pytest.raises(InvalidPrizeTable, match=said):
        check_table(PrizeTable(prizes))
