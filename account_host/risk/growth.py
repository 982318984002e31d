"""Abnormal growth: the points a card earned, and a merchant issued, in the current local
day, against each one's 30-day average per day (the nightly baseline, risk_baselines).

Cards in pages of flat columns by card id (as velocity.py): the day's tag (the ordinal's low
16 bits), its points (32 bits, saturating at 4,294,967,295: a card's day never earns that) and
the level already raised that day (so a level is raised once a day), 7 bytes a card; their
averages in pages of their own, 8 bytes a card, only in pages with a baseline. Merchants, a
few thousand, in dicts."""

from __future__ import annotations

from array import array

_PAGE_BITS = 12
_PAGE_IDS = 1 << _PAGE_BITS
_IN_PAGE = _PAGE_IDS - 1
_INT2_ZEROS = bytes(2 * _PAGE_IDS)
_INT4_ZEROS = bytes(4 * _PAGE_IDS)
_INT8_ZEROS = bytes(8 * _PAGE_IDS)
_DAY_TAG = 0xFFFF
_POINTS_MAX = 0xFFFF_FFFF
# day tag, points that day, level raised that day (0 none, 1 warning, 2 block)
_Page = tuple["array[int]", "array[int]", bytearray]


class GrowthCounters:
    """Today's points and the level raised today, per card and per merchant."""

    __slots__ = ("_merchants", "_pages")

    def __init__(self) -> None:
        self._pages: dict[int, _Page] = {}
        self._merchants: dict[int, list[int]] = {}   # id -> [day, points, level]

    def add_card(self, card_id: int, day: int, points: int) -> tuple[int, int]:
        """`points` more for the card today (never below zero); (today's points, the level
        raised today)."""
        page = self._pages.get(card_id >> _PAGE_BITS)
        if page is None:
            page = self._pages[card_id >> _PAGE_BITS] = _new_page()
        index = card_id & _IN_PAGE
        days, day_points, levels = page
        day &= _DAY_TAG
        if days[index] != day:
            days[index], day_points[index], levels[index] = day, 0, 0
        day_points[index] = min(max(0, day_points[index] + points), _POINTS_MAX)
        return day_points[index], levels[index]

    def raise_card(self, card_id: int, level: int) -> None:
        page = self._pages[card_id >> _PAGE_BITS]   # add_card made it
        page[2][card_id & _IN_PAGE] = level

    def add_merchant(self, merchant_id: int, day: int, points: int) -> tuple[int, int]:
        entry = self._merchants.get(merchant_id)
        if entry is None or entry[0] != day:
            entry = self._merchants[merchant_id] = [day, 0, 0]
        entry[1] = max(0, entry[1] + points)
        return entry[1], entry[2]

    def raise_merchant(self, merchant_id: int, level: int) -> None:
        self._merchants[merchant_id][2] = level


class Baselines:
    """Each card's and merchant's 30-day average of points per day (0: none)."""

    __slots__ = ("_merchants", "_pages", "count")

    def __init__(self) -> None:
        self._pages: dict[int, array[int]] = {}
        self._merchants: dict[int, int] = {}
        self.count = 0

    def card(self, card_id: int) -> int:
        page = self._pages.get(card_id >> _PAGE_BITS)
        return 0 if page is None else page[card_id & _IN_PAGE]

    def merchant(self, merchant_id: int) -> int:
        return self._merchants.get(merchant_id, 0)

    def set(self, subject: str, subject_id: int, points_per_day: int) -> None:
        self.count += 1
        if subject == "merchant":
            self._merchants[subject_id] = points_per_day
            return
        page = self._pages.get(subject_id >> _PAGE_BITS)
        if page is None:
            page = self._pages[subject_id >> _PAGE_BITS] = array("q", _INT8_ZEROS)
        page[subject_id & _IN_PAGE] = points_per_day


def _new_page() -> _Page:
    return (array("H", _INT2_ZEROS), array("I", _INT4_ZEROS), bytearray(_PAGE_IDS))
