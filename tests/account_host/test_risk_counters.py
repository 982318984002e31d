"""Risk control's counters (account_host/risk/) against plain models: the velocity counters
by card, code, hour and day as a dict would count them (a new hour or day starts from zero,
nothing swept), the refusal at exactly the configured count, and the growth levels."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from account_host.risk.growth import Baselines, GrowthCounters
from account_host.risk.settings import GrowthLevels, VelocityLimit
from account_host.risk.velocity import VelocityCounters
from proto.codes import ResponseCode

# Card ids in two pages and at their edges; two codes; hours within two days.
card_ids = st.sampled_from([1, 2, 4095, 4096, 4097, 10**6])
events = st.lists(st.tuples(card_ids, st.integers(0, 1), st.integers(0, 47),
                            st.integers(0, 10_000)), max_size=200)


@settings(max_examples=200, deadline=None)
@given(events)
def test_velocity_counts_as_a_dict_would(moves: list[tuple[int, int, int, int]]) -> None:
    counters = VelocityCounters()
    hours: dict[tuple[int, int, int], int] = {}
    days: dict[tuple[int, int, int], list[int]] = {}
    now = 0
    for card_id, slot, step, amount in moves:
        now = max(now, step)   # time goes forward
        hour, day = now, now // 24
        counters.add(slot, card_id, hour, day, 1, amount)
        hours[card_id, slot, hour] = hours.get((card_id, slot, hour), 0) + 1
        count_amount = days.setdefault((card_id, slot, day), [0, 0])
        count_amount[0] += 1
        count_amount[1] += amount
        for key_card in (1, 4096, card_id):
            for key_slot in (0, 1):
                expected_day = days.get((key_card, key_slot, day), [0, 0])
                assert counters.counts(key_slot, key_card, hour, day) == (
                    hours.get((key_card, key_slot, hour), 0), *expected_day)


def test_the_refusal_comes_at_the_configured_count() -> None:
    counters = VelocityCounters()
    per_hour = VelocityLimit(0, 2, None, None)
    assert counters.refusal(per_hour, 9, 100, 4, 5) is None           # never counted
    counters.add(0, 9, 100, 4, 1, 5)
    assert counters.refusal(per_hour, 9, 100, 4, 5) is None
    counters.add(0, 9, 100, 4, 1, 5)
    assert counters.refusal(per_hour, 9, 100, 4, 5) == ResponseCode.FREQUENCY_LIMIT
    assert counters.refusal(per_hour, 9, 101, 4, 5) is None           # the next hour
    per_day = VelocityLimit(0, None, 3, 100)
    counters.add(0, 9, 101, 4, 0, 40)                                # 2 requests, 50 fen
    assert counters.refusal(per_day, 9, 101, 4, 50) is None          # 100: at the limit
    assert counters.refusal(per_day, 9, 101, 4, 51) == ResponseCode.AMOUNT_LIMIT
    counters.add(0, 9, 101, 4, 1, 50)                                # 3 requests, 100 fen
    assert counters.refusal(per_day, 9, 101, 4, 1) == ResponseCode.FREQUENCY_LIMIT  # 65 first
    assert counters.refusal(per_day, 9, 125, 5, 100) is None         # the next day


def test_a_new_hour_starts_from_zero_the_day_goes_on() -> None:
    counters = VelocityCounters()
    counters.add(0, 7, 100, 4, 1, 10)
    counters.add(0, 7, 100, 4, 1, 10)
    assert counters.counts(0, 7, 100, 4) == (2, 2, 20)
    assert counters.counts(0, 7, 101, 4) == (0, 2, 20)
    counters.add(0, 7, 101, 4, 1, 5)
    assert counters.counts(0, 7, 101, 4) == (1, 3, 25)
    assert counters.counts(0, 7, 125, 5) == (0, 0, 0)   # the next day
    assert counters.counts(1, 7, 101, 4) == (0, 0, 0)   # another code


def test_counts_saturate_above_any_limit() -> None:
    counters, growth = VelocityCounters(), GrowthCounters()
    counters.add(0, 3, 1, 738_000, 1, 3_000_000_000)
    counters.add(0, 3, 1, 738_000, 1, 3_000_000_000)     # 6e9: kept as 2^32 - 1
    assert counters.counts(0, 3, 1, 738_000) == (2, 2, 0xFFFF_FFFF)
    assert counters.refusal(VelocityLimit(0, None, None, 4_000_000_000), 3, 1, 738_000, 1) \
        == ResponseCode.AMOUNT_LIMIT
    assert counters.counts(0, 3, 25, 738_001) == (0, 0, 0)   # the next day (tags masked)
    growth.add_card(3, 738_000, 3_000_000_000)
    assert growth.add_card(3, 738_000, 3_000_000_000) == (0xFFFF_FFFF, 0)


@given(st.integers(0, 10**6), st.integers(0, 10**4))
def test_growth_levels(today: int, average: int) -> None:
    levels = GrowthLevels(5, 10, 100)
    base = max(average, 100)
    expected = 2 if today > 10 * base else 1 if today > 5 * base else 0
    assert levels.level(today, average) == expected


def test_growth_counters_a_day_and_the_level_raised() -> None:
    growth = GrowthCounters()
    assert growth.add_card(5000, 10, 300) == (300, 0)
    growth.raise_card(5000, 1)
    assert growth.add_card(5000, 10, 200) == (500, 1)
    assert growth.add_card(5000, 11, 50) == (50, 0)      # a new day: nothing raised yet
    assert growth.add_merchant(3, 10, 70) == (70, 0)
    growth.raise_merchant(3, 2)
    assert growth.add_merchant(3, 10, 0) == (70, 2)
    baselines = Baselines()
    baselines.set("card", 4097, 12)
    baselines.set("merchant", 3, 40)
    assert (baselines.card(4097), baselines.card(4096), baselines.merchant(3),
            baselines.merchant(4)) == (12, 0, 40, 0)
