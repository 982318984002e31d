"""The points one purchase earns, sans I/O (docs/rules.md, "How the rules combine"):

1. the base rate: the rule document's rate for the merchant, else for its category, else its
   default, else the merchant's own rate (`earn_points_per_yuan`);
2. a spend threshold running now whose threshold the amount reaches, and whose rate gives more
   than the base, replaces it for the whole purchase (the best one);
3. points = the rate's points for the amount, rounded down;
4. the highest multiplier running now applies (they do not stack; a birthday promotion is one
   for a card whose member's birthday, or birthday month, it is): points x percent / 100,
   rounded down;
5. the tier: points x the percent of the tier the card's holder had before this purchase /
   100, rounded down together with the multiplier (one rounding: base x percent x tier percent
   / 10000);
6. caps: at most per transaction, then what is left of the card's day and month.

Promotions run in the alliance's time zone, by the host's clock at the request. One `Earning`
serves one alliance for one batch (one instant): what runs for a merchant is worked out at its
first purchase of the batch, so a purchase costs a dict lookup and its thresholds."""

from __future__ import annotations

from datetime import date

import msgspec

from account_host.earning.counters import EarnCounters
from account_host.earning.rule_book import CompiledRules
from account_host.tiers.standing import TierTable
from proto.earn_rules import Birthday, Multiplier, Rate, SpendThreshold

_FEN_PER_YUAN = 100


class Moment(msgspec.Struct, frozen=True):
    """An instant in the alliance's time zone, as the rules read it."""

    local_date: date
    hour: int         # 0..23

    @property
    def day(self) -> int:
        return self.local_date.toordinal()

    @property
    def weekday(self) -> int:
        return self.local_date.isoweekday()

    @property
    def month(self) -> int:
        return self.local_date.year * 12 + self.local_date.month - 1


class _Running(msgspec.Struct, frozen=True):
    """What applies to one merchant now: its base rate, the multiplier, the thresholds, and
    the birthday promotions (for cards whose member has a birthday)."""

    rate: Rate | None
    percent: int
    thresholds: tuple[SpendThreshold, ...]
    birthdays: tuple[Birthday, ...]


class Earning:
    """One alliance's rules at one instant."""

    __slots__ = ("_birthday_days", "_day", "_moment", "_running", "counted", "local_date",
                 "lot_day", "month", "rules", "tiers", "warning_days")

    def __init__(self, rules: CompiledRules | None, moment: Moment) -> None:
        self.rules = rules
        # Whether the caps count each card's day and month (an attribute: read per purchase).
        self.counted = rules is not None and rules.rules.caps.counted
        # The version's tiers (None: no TR, no standings); the local date and month they count.
        self.tiers: TierTable | None = rules.tiers if rules is not None else None
        self.local_date = moment.local_date
        self.month = moment.month
        # Where points expire: the last day (ordinal) of the lot points earned now go to, and
        # how many days ahead an inquiry warns (tag XP); 0 and None where they never expire.
        expiry = None if rules is None else rules.rules.expiry
        self.lot_day = 0 if expiry is None else expiry.last_day(moment.local_date).toordinal()
        self.warning_days = None if expiry is None else expiry.warning_days
        self._moment = moment
        self._day = moment.day
        self._running: dict[int, _Running] = {}
        # The birthdays (month * 100 + day) that are today: 29 February's on 28 February in
        # a year without one.
        local = moment.local_date
        today = local.month * 100 + local.day
        leap = local.year % 4 == 0 and (local.year % 100 != 0 or local.year % 400 == 0)
        self._birthday_days = (today, 229) if today == 228 and not leap else (today,)

    def points(
        self, merchant_id: int, own_rate: int, amount_fen: int,
        counters: EarnCounters | None = None, card_id: int = 0, birthday: int = 0,
        tier_percent: int = 100,
    ) -> int:
        """Never negative, never above a cap. `own_rate`: the merchant's points per yuan.
        `counters` (with `card_id`): the card's day and month, where the caps count them.
        `birthday`: the card's member's, month * 100 + day (0: none). `tier_percent`: the
        holder's tier's, before this purchase."""
        rules = self.rules
        if rules is None:
            return amount_fen * own_rate // _FEN_PER_YUAN
        running = self._running.get(merchant_id)
        if running is None:
            running = self._running[merchant_id] = self._work_out(merchant_id)
        rate = running.rate
        base = (rate.points_for(amount_fen) if rate is not None
                else amount_fen * own_rate // _FEN_PER_YUAN)
        for threshold in running.thresholds:
            if amount_fen >= threshold.threshold_fen:
                base = max(base, threshold.rate.points_for(amount_fen))
        percent = running.percent
        if birthday and running.birthdays:
            percent = max(percent, self._birthday_percent(running.birthdays, birthday))
        points = base * percent * tier_percent // 10_000
        caps = rules.rules.caps
        if caps.per_transaction is not None:
            points = min(points, caps.per_transaction)
        if counters is not None and caps.counted:
            day_points, month_points = counters.earned(card_id, self._day, self.month)
            if caps.per_day is not None:
                points = min(points, max(0, caps.per_day - day_points))
            if caps.per_month is not None:
                points = min(points, max(0, caps.per_month - month_points))
        return points

    @property
    def local_day(self) -> int:
        """Today in the alliance's time zone, as a date ordinal."""
        return self._day

    def count(self, counters: EarnCounters, card_id: int, points: int) -> None:
        """The card earned `points` now (negative: a reversal gives them back)."""
        counters.add(card_id, self._day, self.month, points)

    def _birthday_percent(self, promotions: tuple[Birthday, ...], birthday: int) -> int:
        percent = 100
        month = self._moment.local_date.month
        for promotion in promotions:
            if (birthday // 100 == month) if promotion.month \
                    else birthday in self._birthday_days:
                percent = max(percent, promotion.percent)
        return percent

    def _work_out(self, merchant_id: int) -> _Running:
        rules = self.rules
        assert rules is not None
        moment = self._moment
        day, weekday, hour = moment.local_date, moment.weekday, moment.hour
        percent = 100
        thresholds = []
        birthdays = []
        for promotion in rules.promotions_of(merchant_id):
            if not promotion.window.covers(day, weekday, hour):
                continue
            if isinstance(promotion, Multiplier):
                percent = max(percent, promotion.percent)
            elif isinstance(promotion, Birthday):
                birthdays.append(promotion)
            else:
                thresholds.append(promotion)
        return _Running(rules.rates.get(merchant_id), percent, tuple(thresholds),
                        tuple(birthdays))
