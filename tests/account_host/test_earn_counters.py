"""The cards' day and month counters (account_host/earning/counters.py) against a plain model
(a dict of [day, points, month, points], what the host kept before the columns): random
earnings, reversals, loads and merges over days and months read back the same."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from account_host.earning.counters import EarnCounters
from proto.earn_rules import CAP_MAX

CARD_IDS = st.integers(1, 9_000) | st.sampled_from([4095, 4096]) | st.integers(2**48, 2**48 + 9)
DAYS = st.integers(739_000, 739_004)
MONTHS = st.integers(24_300, 24_302)
POINTS = st.integers(-500, 500)
OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), CARD_IDS, DAYS, MONTHS, POINTS, POINTS),
    st.tuples(st.just("load"), CARD_IDS, DAYS, MONTHS, POINTS, POINTS),
    st.tuples(st.just("merge"), CARD_IDS, DAYS, MONTHS, POINTS, POINTS),
), max_size=60)


class _Model:
    def __init__(self) -> None:
        self.cards: dict[int, list[int]] = {}

    def earned(self, card_id: int, day: int, month: int) -> tuple[int, int]:
        counts = self.cards.get(card_id)
        if counts is None:
            return 0, 0
        return (counts[1] if counts[0] == day else 0, counts[3] if counts[2] == month else 0)

    def load(self, card_id: int, day: int, day_points: int, month: int, month_points: int,
             ) -> None:
        self.cards[card_id] = [day, max(0, day_points), month, max(0, month_points)]


@given(OPS, st.lists(st.tuples(CARD_IDS, DAYS, MONTHS), max_size=10))
def test_counts_as_the_model_does(
    ops: list[tuple[str, int, int, int, int, int]], probes: list[tuple[int, int, int]],
) -> None:
    counters, model = EarnCounters(), _Model()
    for op, card_id, day, month, points, month_points in ops:
        if op == "add":
            counters.add(card_id, day, month, points)
            day_points, in_month = model.earned(card_id, day, month)
            model.load(card_id, day, day_points + points, month, in_month + points)
        elif op == "load":
            counters.load(card_id, day, points, month, month_points)
            model.load(card_id, day, points, month, month_points)
        else:
            counters.merge([(card_id, day, points, month, month_points)])
            known = model.cards.get(card_id)
            if known is None or known[2] != month:   # memory ahead of the journal wins
                model.load(card_id, day, points, month, month_points)
    assert len(counters) == len(model.cards)
    for card_id, day, month in [*((card, c[0], c[2]) for card, c in model.cards.items()),
                                *probes]:
        assert counters.earned(card_id, day, month) == model.earned(card_id, day, month)
        assert min(counters.earned(card_id, day, month)) >= 0


@given(OPS)
def test_what_the_rows_keep_loads_back_the_same(
    ops: list[tuple[str, int, int, int, int, int]],
) -> None:
    counters = EarnCounters()
    for _, card_id, day, month, points, month_points in ops:
        counters.load(card_id, day, points, month, month_points)
    card_ids = sorted({op[1] for op in ops}) + [77_777]   # one never counted: no row values
    stored = [counters.stored(card_id) for card_id in card_ids]
    assert stored[-1] is None
    loaded = EarnCounters()
    loaded.load_stored(card_ids, [None if pair is None else pair[0] for pair in stored],
                       [None if pair is None else pair[1] for pair in stored])
    assert len(loaded) == len(counters)
    for card_id in card_ids:
        for day in range(739_000, 739_005):
            for month in range(24_300, 24_303):
                assert loaded.earned(card_id, day, month) == counters.earned(card_id, day, month)


def test_points_past_what_a_row_keeps_load_back_above_any_cap() -> None:
    counters = EarnCounters()
    counters.load(5, 739_000, 2**41, 24_300, 3 * 10**12)
    stored = counters.stored(5)
    assert stored is not None
    loaded = EarnCounters()
    loaded.load_stored([5], [stored[0]], [stored[1]])
    assert loaded.earned(5, 739_000, 24_300) == (2**40 - 1, 2**40 - 1)
    assert min(loaded.earned(5, 739_000, 24_300)) > CAP_MAX
