"""Tier standings (account_host/tiers/standing.py, proto/tiers.py), sans I/O: the 12 months'
counts against a plain model (a dict of month -> count), the tier monotone in the rolling
total and never lowered by a request, the upgrade for a year, the review at its end, the rate
by tier, and the checks of the tier table."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from account_host.earning.earn import Earning, Moment
from account_host.earning.rule_book import compile_rules
from account_host.tiers.standing import (
    TierTable,
    count_again,
    count_purchase,
    new_standing,
    review,
    take_back,
    year_later,
)
from proto.earn_rules import EarnRules, InvalidRules, Multiplier, Rate, Rates, parse_rules_file
from proto.tiers import (
    MONTH_COUNT_MAX,
    MONTHS,
    STANDING_BYTES,
    Tier,
    Tiers,
    counts_add,
    counts_take,
    counts_total,
    month_key,
    pack_standing,
    standing_tier,
    standing_total,
    unpack_standing,
)

TIERS = Tiers((Tier("SILVER", 0), Tier("GOLD", 100_000, 150), Tier("PLAT", 500_000, 200),
               Tier("DIAMOND", 2_000_000, 300)))
TABLE = TierTable(TIERS)
MONTH0 = month_key(2027, 1)

# (months ahead of the last step: 0..14, amount, whether it takes back)
steps = st.lists(st.tuples(st.integers(0, 14), st.integers(0, 10**6), st.booleans()),
                 max_size=40)


def _model_total(model: dict[int, int], month: int) -> int:
    return sum(count for key, count in model.items() if month - MONTHS < key <= month)


def _model_take(model: dict[int, int], month: int, amount: int) -> None:
    for key in sorted((k for k in model if month - MONTHS < k <= month), reverse=True):
        taken = min(amount, model[key])
        model[key] -= taken
        amount -= taken


@settings(max_examples=300, deadline=None)
@given(steps)
def test_the_months_equal_a_plain_model(operations) -> None:
    counts, latest, month = [0] * MONTHS, MONTH0, MONTH0
    model: dict[int, int] = {}
    for ahead, amount, takes in operations:
        month += ahead
        if takes:
            latest = counts_take(counts, latest, month, amount)
            _model_take(model, month, amount)
        else:
            latest = counts_add(counts, latest, month, amount)
            model[month] = min(MONTH_COUNT_MAX, model.get(month, 0) + amount)
        for later in (month, month + 1, month + 11, month + 12):
            assert counts_total(counts, latest, later) == _model_total(model, later)
    packed = pack_standing("GOLD", 7, latest, counts)
    assert len(packed) == STANDING_BYTES == 62
    assert unpack_standing(packed) == ("GOLD", 7, latest, counts)
    assert standing_tier(packed) == ("GOLD", 7)
    assert standing_total(packed, month) == _model_total(model, month)


def _total(standing: bytes, month: int) -> int:
    return standing_total(standing, month)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_the_tier_is_monotone_in_the_total_and_never_lowered_by_a_request(operations) -> None:
    standing = new_standing(TABLE, MONTH0)
    month, day = MONTH0, date(2027, 1, 15)
    model: dict[int, int] = {}
    for ahead, amount, takes in operations:
        month += ahead
        before = TABLE.rank_of(standing)
        if takes:
            standing = take_back(standing, month, amount)
            _model_take(model, month, amount)
        else:
            standing = count_purchase(TABLE, standing, month, day, amount)
            model[month] = min(MONTH_COUNT_MAX, model.get(month, 0) + amount)
            reached = TABLE.rank_reached(_model_total(model, month))
            assert TABLE.rank_of(standing) == max(before, reached)
        assert _total(standing, month) == _model_total(model, month)
        assert TABLE.rank_of(standing) >= before
    totals = range(0, 3_000_000, 12_345)
    ranks = [TABLE.rank_reached(total) for total in totals]
    assert ranks == sorted(ranks) and ranks[0] == 0


def test_an_upgrade_lasts_a_year_and_the_review_decides_at_its_end() -> None:
    standing = new_standing(TABLE, MONTH0)
    day = date(2027, 1, 20)
    standing = count_purchase(TABLE, standing, MONTH0, day, 80_000)
    assert standing_tier(standing) == ("SILVER", 0)
    standing = count_purchase(TABLE, standing, MONTH0, day, 30_000)   # 1,100 yuan: GOLD
    assert standing_tier(standing) == ("GOLD", date(2028, 1, 20).toordinal())
    standing = take_back(standing, MONTH0, 50_000)      # a return: the tier stays
    assert TABLE.code_of(standing) == "GOLD"
    standing = count_again(standing, MONTH0, 50_000)    # its reversal: counted again
    assert _total(standing, MONTH0) == 110_000
    assert review(TABLE, standing, MONTH0 + 12, date(2028, 1, 20)) is None   # not yet over
    # A year later the January spend has left the window: back to the base, for good.
    reviewed = review(TABLE, standing, month_key(2028, 1), date(2028, 1, 21))
    assert reviewed is not None and standing_tier(reviewed) == ("SILVER", 0)
    assert review(TABLE, reviewed, month_key(2028, 2), date(2028, 2, 21)) is None
    # Spend within the window at the review keeps the tier another year.
    kept = count_purchase(TABLE, new_standing(TABLE, MONTH0), MONTH0, day, 120_000)
    kept = count_purchase(TABLE, kept, month_key(2027, 12), date(2027, 12, 1), 100_000)
    kept_again = review(TABLE, kept, month_key(2028, 1), date(2028, 1, 21))
    assert kept_again is not None
    assert standing_tier(kept_again) == ("GOLD", date(2029, 1, 21).toordinal())


def test_a_tier_the_table_lacks_counts_as_the_base_and_29_february() -> None:
    standing = pack_standing("GONE", 0, MONTH0, [0] * MONTHS)
    assert (TABLE.code_of(standing), TABLE.percent_of(standing)) == ("SILVER", 100)
    assert TABLE.code_of(None) == "SILVER"
    assert year_later(date(2028, 2, 29)) == date(2029, 2, 28)


def test_the_rate_by_tier_multiplies_with_the_promotions_rounded_once() -> None:
    rules = EarnRules(Rates(default=Rate(3)), tiers=TIERS)
    compiled = compile_rules(date(2027, 1, 1), rules, {"M1": (1, None)})
    assert compiled.tiers is not None and compiled.tiers.codes[1] == "GOLD"
    earning = Earning(compiled, Moment(date(2027, 2, 8), 12))
    assert earning.tiers is compiled.tiers and earning.month == month_key(2027, 2)
    # 88.80 yuan at 3 per yuan: 266.4 -> 266 points; GOLD x1.5: 266 x 150 / 100 = 399.
    assert earning.points(1, 1, 8_880) == 266
    assert earning.points(1, 1, 8_880, tier_percent=150) == 399
    # With a x1.5 multiplier running: 33.67 yuan earns 101; x1.5 x1.5 rounded once is 227
    # (101 x 22500 / 10000 = 227.25), where rounding each step would give 151, then 226.
    doubled = EarnRules(Rates(default=Rate(3)), (Multiplier("HALFMORE", 150),), tiers=TIERS)
    earning = Earning(compile_rules(date(2027, 1, 1), doubled, {"M1": (1, None)}),
                      Moment(date(2027, 2, 8), 12))
    assert earning.points(1, 1, 3_367, tier_percent=150) == 227


@pytest.mark.parametrize(("levels", "message"), [
    ('{ code = "SILVER", threshold = 1 }', "base) tier's threshold is 0"),
    ('{ code = "A", threshold = 0 }, { code = "B", threshold = 0 }', "thresholds rise"),
    ('{ code = "A", threshold = 0, percent = 200 }, { code = "B", threshold = 5 }',
     "a higher tier earns no less"),
    ('{ code = "gold", threshold = 0 }', "1-8 capitals or digits"),
    ('{ code = "A", threshold = 0, percent = 90 }', "percent is 100 to 1000"),
    ('{ code = "A", threshold = 0 }, { code = "A", threshold = 5 }', "codes are unique"),
])
def test_what_the_checks_refuse(levels: str, message: str) -> None:
    with pytest.raises(InvalidRules, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_rules_file(f"[tiers]\nlevels = [{levels}]\n")
    assert parse_rules_file('[tiers]\nmeasure = "points"\nlevels = [{ code = "A", threshold'
                            ' = 0 }]\n').tiers == Tiers((Tier("A", 0),), "points")
