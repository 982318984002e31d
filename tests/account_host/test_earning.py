"""The points a purchase earns (account_host/earning/), against a plain model of docs/rules.md
written from the document itself (no compiling, no caches): the same answer for random rule
sets, moments and amounts; never negative, never above a cap, monotone in the amount."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from account_host.earning.counters import EarnCounters
from account_host.earning.earn import Earning, Moment
from account_host.earning.rule_book import RuleBook, compile_rules
from proto.earn_rules import (
    Birthday,
    Caps,
    EarnRules,
    InvalidRules,
    Multiplier,
    Rate,
    Rates,
    SpendThreshold,
    Window,
    parse_rules_file,
)

MERCHANTS = {"M1": (1, "dining"), "M2": (2, "retail"), "M3": (3, None)}
OWN_RATE = {1: 1, 2: 3, 3: 0}
DAY0 = date(2027, 2, 8)   # a Monday

rates = st.builds(Rate, st.integers(0, 20), st.sampled_from((1, 10, 100)))
windows = st.builds(
    Window,
    from_date=st.none() | st.sampled_from([DAY0, DAY0 + timedelta(days=3)]),
    to_date=st.none() | st.sampled_from([DAY0 + timedelta(days=2), DAY0 + timedelta(days=9)]),
    weekdays=st.lists(st.integers(1, 7), max_size=3, unique=True).map(tuple),
    hours=st.none() | st.sampled_from([(0, 12), (18, 22), (9, 24)]),
)
scopes = st.lists(st.sampled_from(sorted(MERCHANTS)), max_size=2, unique=True).map(tuple)


@st.composite
def promotions(draw: st.DrawFn) -> tuple[Multiplier | SpendThreshold, ...]:
    found: list[Multiplier | SpendThreshold] = []
    for index in range(draw(st.integers(0, 4))):
        window = draw(windows)
        kind = draw(st.sampled_from(["multiplier", "threshold", "birthday"]))
        if kind == "multiplier":
            found.append(Multiplier(f"X{index}", draw(st.integers(100, 1000)), window,
                                    draw(scopes)))
        elif kind == "birthday":
            found.append(Birthday(f"B{index}", draw(st.integers(100, 1000)),
                                  draw(st.booleans()), window, draw(scopes)))
        else:
            found.append(SpendThreshold(f"T{index}", draw(st.integers(1, 200_000)),
                                        draw(rates), window, draw(scopes)))
    return tuple(found)


rule_sets = st.builds(
    EarnRules,
    rates=st.builds(Rates, default=st.none() | rates,
                    categories=st.dictionaries(st.sampled_from(["dining", "retail"]), rates),
                    merchants=st.dictionaries(st.sampled_from(sorted(MERCHANTS)), rates)),
    promotions=promotions(),
    caps=st.builds(Caps, per_transaction=st.none() | st.integers(0, 5_000),
                   per_day=st.none() | st.integers(0, 8_000),
                   per_month=st.none() | st.integers(0, 20_000)),
)
moments = st.builds(Moment, st.integers(0, 24).map(lambda d: DAY0 + timedelta(days=d))
                    | st.sampled_from([date(2027, 2, 28), date(2028, 2, 28), date(2028, 2, 29)]),
                    st.integers(0, 23))


def model(rules: EarnRules, code: str, amount: int, moment: Moment, day_points: int,
          month_points: int, birthday: date | None = None) -> int:
    merchant_id, category = MERCHANTS[code]

    def runs(window: Window) -> bool:
        day = moment.local_date
        return ((window.from_date is None or window.from_date <= day)
                and (window.to_date is None or day <= window.to_date)
                and (not window.weekdays or day.isoweekday() in window.weekdays)
                and (window.hours is None or window.hours[0] <= moment.hour < window.hours[1]))

    def earn(rate: Rate) -> int:
        return (amount * rate.points) // (100 * rate.per_yuan)

    applying = [p for p in rules.promotions
                if (not p.merchants or code in p.merchants) and runs(p.window)]
    rate = (rules.rates.merchants.get(code)
            or (rules.rates.categories.get(category) if category else None)
            or rules.rates.default)
    points = earn(rate) if rate else amount * OWN_RATE[merchant_id] // 100
    for promotion in applying:
        if isinstance(promotion, SpendThreshold) and amount >= promotion.threshold_fen:
            points = max(points, earn(promotion.rate))
    today = moment.local_date

    def celebrates(promotion: Birthday) -> bool:
        if birthday is None:
            return False
        if promotion.month:
            return birthday.month == today.month
        if (birthday.month, birthday.day) == (2, 29) and not calendar.isleap(today.year):
            return (today.month, today.day) == (2, 28)
        return (birthday.month, birthday.day) == (today.month, today.day)

    percent = max([100] + [p.percent for p in applying if isinstance(p, Multiplier)]
                  + [p.percent for p in applying if isinstance(p, Birthday) and celebrates(p)])
    points = points * percent // 100
    caps = rules.caps
    limits = [points]
    if caps.per_transaction is not None:
        limits.append(caps.per_transaction)
    if caps.per_day is not None:
        limits.append(max(0, caps.per_day - day_points))
    if caps.per_month is not None:
        limits.append(max(0, caps.per_month - month_points))
    return min(limits)


def _earning(rules: EarnRules, moment: Moment) -> Earning:
    book = RuleBook([compile_rules(DAY0, rules, MERCHANTS)])
    return Earning(book.in_force(moment.local_date), moment)


birthdays = st.none() | st.sampled_from(
    [date(1990, 2, 8), date(1985, 2, 12), date(2000, 2, 29), date(1970, 3, 1),
     date(1999, 12, 31)])


@settings(max_examples=300, deadline=None)
@given(rule_sets, moments, st.sampled_from(sorted(MERCHANTS)), st.integers(1, 10**7),
       st.integers(0, 10_000), st.integers(0, 30_000), birthdays)
def test_the_host_earns_what_the_model_says(rules, moment, code, amount, day, month,
                                            birthday) -> None:
    merchant_id = MERCHANTS[code][0]
    counters = EarnCounters()
    counters.load(7, moment.day, day, moment.month, month)
    packed = 0 if birthday is None else birthday.month * 100 + birthday.day
    points = _earning(rules, moment).points(merchant_id, OWN_RATE[merchant_id], amount,
                                            counters, 7, packed)
    assert points == model(rules, code, amount, moment, day, month, birthday)
    assert points >= 0
    caps = rules.caps
    for cap in (caps.per_transaction, caps.per_day, caps.per_month):
        assert cap is None or points <= cap


@settings(max_examples=200, deadline=None)
@given(rule_sets, moments, st.sampled_from(sorted(MERCHANTS)), st.integers(1, 10**7),
       st.integers(0, 10**6))
def test_more_spent_never_earns_less(rules, moment, code, amount, more) -> None:
    merchant_id = MERCHANTS[code][0]
    earning = _earning(rules, moment)
    assert earning.points(merchant_id, OWN_RATE[merchant_id], amount) <= earning.points(
        merchant_id, OWN_RATE[merchant_id], amount + more)


def test_no_rules_earn_the_merchants_own_rate() -> None:
    earning = Earning(None, Moment(DAY0, 12))
    assert earning.points(2, 3, 12_345) == 370 and not earning.counted


def test_a_version_is_in_force_from_its_date() -> None:
    later = EarnRules(Rates(default=Rate(5)))
    book = RuleBook([compile_rules(DAY0 + timedelta(days=5), later, MERCHANTS),
                     compile_rules(DAY0, EarnRules(), MERCHANTS)])
    assert book.in_force(DAY0 - timedelta(days=1)) is None
    assert book.in_force(DAY0 + timedelta(days=4)).rules == EarnRules()   # type: ignore
    assert book.in_force(DAY0 + timedelta(days=5)).rules == later         # type: ignore


def test_a_day_and_a_month_counted_and_given_back() -> None:
    rules = EarnRules(Rates(default=Rate(1)), caps=Caps(per_day=150, per_month=200))
    moment = Moment(DAY0, 10)
    earning, counters = _earning(rules, moment), EarnCounters()
    first = earning.points(1, 1, 10_000, counters, 9)   # 100
    earning.count(counters, 9, first)
    second = earning.points(1, 1, 10_000, counters, 9)  # 50 left today
    earning.count(counters, 9, second)
    assert (first, second) == (100, 50)
    earning.count(counters, 9, -first)                  # a reversal: room again
    assert earning.points(1, 1, 10_000, counters, 9) == 100
    # Tomorrow the day starts again, the month goes on: 50 so far, 150 left.
    tomorrow = _earning(rules, Moment(DAY0 + timedelta(days=1), 10))
    earned = tomorrow.points(1, 1, 10_000, counters, 9)
    tomorrow.count(counters, 9, earned)
    assert (earned, tomorrow.points(1, 1, 10_000, counters, 9)) == (100, 50)


class TestDocuments:
    def test_a_file_as_hq_writes_it(self) -> None:
        rules = parse_rules_file("""
            [rates]
            default = { points = 1 }
            categories.dining = { points = 2 }
            merchants.M3 = { points = 1, per_yuan = 10 }
            [[promotions]]
            kind = "multiplier"
            code = "SPRING"
            percent = 200
            window = { from = 2027-02-10, to = 2027-02-17, weekdays = [6, 7], hours = [18, 22] }
            [[promotions]]
            kind = "threshold"
            code = "BIG"
            threshold_fen = 50000
            rate = { points = 3 }
            merchants = ["M1"]
            [caps]
            per_transaction = 5000
        """)
        assert rules.promotions[0] == Multiplier(
            "SPRING", 200, Window(date(2027, 2, 10), date(2027, 2, 17), (6, 7), (18, 22)))
        assert rules.caps == Caps(per_transaction=5000)

    def test_refusals_name_the_part(self) -> None:
        for text, said in (
            ("[rates]\ndefault = { points = 1, per_yuan = 7 }", "per_yuan is 1, 10 or 100"),
            ('[[promotions]]\nkind = "multiplier"\ncode = "X"\npercent = 50',
             "percent is 100 to 1000"),
            ('[[promotions]]\nkind = "multiplier"\ncode = "X"\npercent = 200\n'
             "window = { weekdays = [8] }", "weekdays are 1 (Monday) to 7"),
            ("[rates]\ncategories.Dining = { points = 1 }", "category 'Dining'"),
            ("[caps]\nper_day = -1", "Expected `int` >= 0"),
            ("[bonus]\nx = 1", "unknown field `bonus`"),
        ):
            try:
                parse_rules_file(text)
            except InvalidRules as exc:
                assert said in str(exc), (text, str(exc))
            else:
                raise AssertionError(f"accepted: {text}")
