"""An alliance's earn rules: the document HQ writes (`jifen rules set --file rules.toml`), the
back office checks and stores as a version in force from a date, and the account host compiles
and applies to every purchase (docs/rules.md says how they combine, with examples).

The same types on both sides: what the back office accepted is exactly what the host applies.
Amounts are integers (fen, whole points); a percentage is an integer (200 = x2).
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, timedelta
from typing import Annotated

import msgspec
from msgspec import Meta

from proto.tiers import InvalidTiers, Tiers, check_tiers

# A rate is points per 1, 10 or 100 yuan (the seeds' programmes), at most this many points.
PER_YUAN_CHOICES = (1, 10, 100)
RATE_POINTS_MAX = 10_000
# x1 to x10: a multiplier is a promotion, not a new programme.
PERCENT_MIN, PERCENT_MAX = 100, 1_000
CAP_MAX = 10**9
PROMOTIONS_MAX = 200
FEN_PER_YUAN = 100
# Points live at most 10 years after the month earned; the warning at most a year ahead.
EXPIRY_MONTHS_MAX = 120
WARNING_DAYS_MAX = 366
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class InvalidRules(ValueError):
    """A document that is not a valid rule set (the message says where)."""


class Rate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    points: Annotated[int, Meta(ge=0, le=RATE_POINTS_MAX)]
    per_yuan: int = 1

    def points_for(self, amount_fen: int) -> int:
        """Rounded down: 1 point per 10 yuan earns nothing on 9.99 yuan."""
        return amount_fen * self.points // (self.per_yuan * FEN_PER_YUAN)


class Window(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When a promotion runs, in the alliance's time zone: local dates `from`..`to` (both
    included; absent: open), on `weekdays` (1 Monday .. 7 Sunday; empty: every day), in local
    hours [hours[0], hours[1]) (absent: all day)."""

    from_date: date | None = msgspec.field(default=None, name="from")
    to_date: date | None = msgspec.field(default=None, name="to")
    weekdays: tuple[int, ...] = ()
    hours: tuple[int, int] | None = None

    def covers(self, local_date: date, weekday: int, hour: int) -> bool:
        if self.from_date is not None and local_date < self.from_date:
            return False
        if self.to_date is not None and local_date > self.to_date:
            return False
        if self.weekdays and weekday not in self.weekdays:
            return False
        return self.hours is None or self.hours[0] <= hour < self.hours[1]


class Multiplier(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="multiplier",
                 tag_field="kind"):
    """Points x percent / 100 while the window runs (holiday x2, a weekday, an hour range)."""

    code: str
    percent: int
    window: Window = Window()
    merchants: tuple[str, ...] = ()      # merchant codes; empty: the whole alliance


class SpendThreshold(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="threshold",
                     tag_field="kind"):
    """A purchase of at least `threshold_fen` earns at `rate` instead of its base rate (the
    whole purchase, when that gives more)."""

    code: str
    threshold_fen: Annotated[int, Meta(gt=0, le=10**12)]
    rate: Rate
    window: Window = Window()
    merchants: tuple[str, ...] = ()


class Birthday(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="birthday",
               tag_field="kind"):
    """Points x percent / 100 on the member's birthday (or all its month, `month = true`), in
    the alliance's time zone; a 29 February birthday is kept on 28 February in other years.
    It is a multiplier: the highest one running applies."""

    code: str
    percent: int
    month: bool = False
    window: Window = Window()
    merchants: tuple[str, ...] = ()


Promotion = Multiplier | SpendThreshold | Birthday


class Caps(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The most points one purchase earns, and one card per local day and per month (absent:
    no cap)."""

    per_transaction: Annotated[int, Meta(ge=0, le=CAP_MAX)] | None = None
    per_day: Annotated[int, Meta(ge=0, le=CAP_MAX)] | None = None
    per_month: Annotated[int, Meta(ge=0, le=CAP_MAX)] | None = None

    @property
    def counted(self) -> bool:
        """Whether the host keeps each card's points of the day and month."""
        return self.per_day is not None or self.per_month is not None


class Bonuses(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Points given for what is not a purchase, each through the host as a transaction of its
    own: `join`, to a new member's first card (once per member); `referral`, to the referring
    member's card at the referred member's first purchase."""

    join: Annotated[int, Meta(ge=0, le=CAP_MAX)] = 0
    referral: Annotated[int, Meta(ge=0, le=CAP_MAX)] = 0


class Rates(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Base rates, the most specific first: a merchant's own here, its category's, the
    default here; with none of them, the merchant's rate (`jifen merchant update
    --earn-points-per-yuan`)."""

    default: Rate | None = None
    categories: dict[str, Rate] = {}
    merchants: dict[str, Rate] = {}


class Expiry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When points earned under these rules expire (docs/rules.md, "Expiring points"): each
    earning is a lot that can be spent through its last day, in the alliance's time zone.
    `months = N`: through the end of the Nth month after the month earned (12: points earned
    in March 2026 last until 31 March 2027); `end_of_next_year`: through 31 December of the
    year after. Whole months keep a card to a handful of lots. An approved 0110 warns (tag XP)
    when the soonest lot's last day is at most `warning_days` away."""

    months: Annotated[int, Meta(ge=1, le=EXPIRY_MONTHS_MAX)] | None = None
    end_of_next_year: bool = False
    warning_days: Annotated[int, Meta(ge=0, le=WARNING_DAYS_MAX)] = 30

    def last_day(self, earned_on: date) -> date:
        """The last local day on which points earned on `earned_on` can be spent."""
        if self.end_of_next_year:
            return date(earned_on.year + 1, 12, 31)
        assert self.months is not None, "checked: months or end_of_next_year"
        month = earned_on.year * 12 + earned_on.month - 1 + self.months + 1
        return date(month // 12, month % 12 + 1, 1) - timedelta(days=1)


class EarnRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rates: Rates = Rates()
    promotions: tuple[Promotion, ...] = ()
    caps: Caps = Caps()
    bonuses: Bonuses = Bonuses()
    expiry: Expiry | None = None   # absent: points never expire
    # Tiers (proto/tiers.py): absent, the alliance has none (no TR in its answers).
    tiers: Tiers | None = None


def check_rules(rules: EarnRules) -> None:
    """What the types cannot say; InvalidRules names the part."""
    for where, rate in _rates(rules):
        if rate.per_yuan not in PER_YUAN_CHOICES:
            raise InvalidRules(f"{where}: per_yuan is 1, 10 or 100")
    for category in rules.rates.categories:
        if not _CATEGORY.match(category):
            raise InvalidRules(f"category {category!r}: lower-case letters, digits, '_'")
    expiry = rules.expiry
    if expiry is not None and (expiry.months is None) == (not expiry.end_of_next_year):
        raise InvalidRules("expiry: either months or end_of_next_year = true")
    if len(rules.promotions) > PROMOTIONS_MAX:
        raise InvalidRules(f"at most {PROMOTIONS_MAX} promotions")
    codes = [promotion.code for promotion in rules.promotions]
    for code in codes:
        if not _CODE.match(code):
            raise InvalidRules(f"promotion code {code!r}: 1-32 letters, digits, '_' or '-'")
    if len(set(codes)) != len(codes):
        raise InvalidRules("promotion codes are unique")
    if rules.tiers is not None:
        try:
            check_tiers(rules.tiers)
        except InvalidTiers as exc:
            raise InvalidRules(str(exc)) from exc
    for promotion in rules.promotions:
        _check_window(promotion.code, promotion.window)
        if isinstance(promotion, Multiplier | Birthday) and not PERCENT_MIN \
                <= promotion.percent <= PERCENT_MAX:
            raise InvalidRules(f"promotion {promotion.code}: percent is {PERCENT_MIN} to"
                               f" {PERCENT_MAX} (200 = x2)")


def _rates(rules: EarnRules) -> list[tuple[str, Rate]]:
    rates = rules.rates
    found = [("rates.default", rates.default)] if rates.default is not None else []
    found += [(f"rates.categories.{name}", rate) for name, rate in rates.categories.items()]
    found += [(f"rates.merchants.{code}", rate) for code, rate in rates.merchants.items()]
    found += [(f"promotion {p.code}", p.rate) for p in rules.promotions
              if isinstance(p, SpendThreshold)]
    return found


def _check_window(code: str, window: Window) -> None:
    if window.from_date and window.to_date and window.from_date > window.to_date:
        raise InvalidRules(f"promotion {code}: window from is after to")
    if any(not 1 <= day <= 7 for day in window.weekdays):
        raise InvalidRules(f"promotion {code}: weekdays are 1 (Monday) to 7 (Sunday)")
    if window.hours is not None and not 0 <= window.hours[0] < window.hours[1] <= 24:
        raise InvalidRules(f"promotion {code}: hours are [from, to) within 0..24")


def merchant_codes(rules: EarnRules) -> set[str]:
    """Every merchant the document names (the back office checks they are the alliance's)."""
    codes = set(rules.rates.merchants)
    for promotion in rules.promotions:
        codes.update(promotion.merchants)
    return codes


_JSON = msgspec.json.Encoder()


def encode_rules(rules: EarnRules) -> str:
    return _JSON.encode(rules).decode()


def decode_rules(text: str | bytes) -> EarnRules:
    """From JSON (as stored); InvalidRules for anything not a valid rule set."""
    try:
        rules = msgspec.json.decode(text, type=EarnRules)
    except msgspec.DecodeError as exc:
        raise InvalidRules(str(exc)) from exc
    check_rules(rules)
    return rules


def parse_rules_file(text: str) -> EarnRules:
    """From the TOML (or JSON) file HQ edits."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return decode_rules(stripped)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidRules(f"not TOML: {exc}") from exc
    try:
        rules = msgspec.convert(document, EarnRules)
    except msgspec.ValidationError as exc:
        raise InvalidRules(str(exc)) from exc
    check_rules(rules)
    return rules
