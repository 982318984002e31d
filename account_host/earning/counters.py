"""Each card's points earned in the alliance's local day and month, for the caps per day and
per month: kept only for alliances whose rules count them.

By card id in pages of flat columns (as account_columns.py keeps balances): 24 bytes a card
of a page in use, where a dict of lists took about 200 (issue 18: 10^6 cards under 500 MB
with their counters). A card's day and month say which day and month its points are of: a new
day or month starts from zero without any sweep, so nothing is forgotten and nothing grows.

A reversal of an earning gives its points back to the day and month in which it is reversed
(never below zero): reversals come within minutes of their original."""

from __future__ import annotations

from array import array
from collections.abc import Iterable

_PAGE_BITS = 12
_PAGE_IDS = 1 << _PAGE_BITS
_IN_PAGE = _PAGE_IDS - 1
_INT4_ZEROS = bytes(4 * _PAGE_IDS)
_INT8_ZEROS = bytes(8 * _PAGE_IDS)
# As a points account row keeps them (migration 028): key << 40 | points, the points at most
# 2^40 - 1, above any cap (proto.earn_rules.CAP_MAX), so a cap decides alike after a load.
_STORED_KEY_SHIFT = 40
_STORED_POINTS_MAX = (1 << _STORED_KEY_SHIFT) - 1
# A page: local day ordinal, points that day, month key (year * 12 + month - 1; 0 for a card
# never counted), points that month.
_Page = tuple["array[int]", "array[int]", "array[int]", "array[int]"]


class EarnCounters:
    __slots__ = ("_count", "_pages")

    def __init__(self) -> None:
        self._pages: dict[int, _Page] = {}
        self._count = 0   # cards ever counted

    def earned(self, card_id: int, day: int, month: int) -> tuple[int, int]:
        """Points of the card in `day` and in `month` so far."""
        page = self._pages.get(card_id >> _PAGE_BITS)
        if page is None:
            return 0, 0
        index = card_id & _IN_PAGE
        days, day_points, months, month_points = page
        return (day_points[index] if days[index] == day else 0,
                month_points[index] if months[index] == month else 0)

    def add(self, card_id: int, day: int, month: int, points: int) -> None:
        """`points` (negative: a reversal) to the card's day and month, never below zero."""
        day_points, month_points = self.earned(card_id, day, month)
        self.load(card_id, day, day_points + points, month, month_points + points)

    def load(self, card_id: int, day: int, day_points: int, month: int,
             month_points: int) -> None:
        """The card's day and month as the journal has them."""
        assert card_id > 0 and month > 0
        page = self._pages.get(card_id >> _PAGE_BITS)
        if page is None:
            page = self._pages[card_id >> _PAGE_BITS] = _new_page()
        index = card_id & _IN_PAGE
        days, day_column, months, month_column = page
        if not months[index]:
            self._count += 1
        days[index], day_column[index] = day, max(0, day_points)
        months[index], month_column[index] = month, max(0, month_points)

    def merge(self, rows: list[tuple[int, int, int, int, int]]) -> None:
        """Rows read from the journal (card, day, its points, month, its points), for the
        cards not counted in memory this month: what memory counts is ahead of the journal
        (a batch in flight), what it does not was earned before the caps counted."""
        for card_id, day, day_points, month, month_points in rows:
            if self._month_of(card_id) != month:
                self.load(card_id, day, day_points, month, month_points)

    def stored(self, card_id: int) -> tuple[int, int] | None:
        """The card's (counted_day, counted_month) for its points account row; None where it
        was never counted."""
        page = self._pages.get(card_id >> _PAGE_BITS)
        if page is None:
            return None
        index = card_id & _IN_PAGE
        days, day_points, months, month_points = page
        if not months[index]:
            return None
        return ((days[index] << _STORED_KEY_SHIFT) | min(day_points[index], _STORED_POINTS_MAX),
                (months[index] << _STORED_KEY_SHIFT)
                | min(month_points[index], _STORED_POINTS_MAX))

    def load_stored(self, card_ids: Iterable[int], days: Iterable[int | None],
                    months: Iterable[int | None]) -> None:
        """Rows' counted_day and counted_month (None: never counted), as a load reads them (a
        page looked up once per run of card ids in it)."""
        pages, count, number = self._pages, self._count, -1
        page: _Page | None = None
        for card_id, day, month in zip(card_ids, days, months, strict=True):
            if day is None or month is None:
                continue
            if card_id >> _PAGE_BITS != number:
                assert card_id > 0
                number = card_id >> _PAGE_BITS
                page = pages.get(number)
                if page is None:
                    page = pages[number] = _new_page()
            assert page is not None
            index = card_id & _IN_PAGE
            if not page[2][index]:
                count += 1
            page[0][index], page[1][index] = day >> _STORED_KEY_SHIFT, day & _STORED_POINTS_MAX
            page[2][index] = month >> _STORED_KEY_SHIFT
            page[3][index] = month & _STORED_POINTS_MAX
        self._count = count

    def _month_of(self, card_id: int) -> int:
        page = self._pages.get(card_id >> _PAGE_BITS)
        return 0 if page is None else page[2][card_id & _IN_PAGE]

    def __len__(self) -> int:
        return self._count


def _new_page() -> _Page:
    return (array("i", _INT4_ZEROS), array("q", _INT8_ZEROS), array("i", _INT4_ZEROS),
            array("q", _INT8_ZEROS))
