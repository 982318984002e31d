"""Velocity: each card's approved requests per processing code in the current clock hour
(UTC) and local day, and their amount (field 4) that day, against its alliance's limits.

Counters by card id in pages of flat columns, as earning/counters.py keeps the caps': per
limited processing code and card, an hour and a day tag with their counts (16 bits each)
and the day's amount (32 bits, saturating: a limit is at most 4,000,000,000), 14 bytes; only
pages of cards that transacted under a limited code exist. A tag that is not the current hour
or day reads as zero, so nothing is swept. The day tag is the ordinal's low 16 bits: a card
idle for exactly 179 years would read its old day (a host never runs that long).

Only approved requests count (a decline, 65 and 61 included, counts for nothing), each once,
when it is approved; a reversal gives nothing back (the attempt was made)."""

from __future__ import annotations

from array import array

from account_host.risk.settings import REQUESTS_MAX, VelocityLimit
from proto.codes import ResponseCode

_PAGE_BITS = 12
_PAGE_IDS = 1 << _PAGE_BITS
_IN_PAGE = _PAGE_IDS - 1
# Pages are keyed by page number * _SLOTS + slot: one code's counters never cost another's.
_SLOTS = 8
_INT4_ZEROS = bytes(4 * _PAGE_IDS)
_INT2_ZEROS = bytes(2 * _PAGE_IDS)
_DAY_TAG = 0xFFFF
_AMOUNT_MAX = 0xFFFF_FFFF   # saturated: above any limit (settings.AMOUNT_MAX)
# hour tag, requests that hour, day tag, requests that day, amount that day
_Page = tuple["array[int]", "array[int]", "array[int]", "array[int]", "array[int]"]
_COUNT_MAX = min(REQUESTS_MAX + 1, 0xFFFF)   # enough to refuse at any limit; 16 bits


class VelocityCounters:
    __slots__ = ("_pages",)

    def __init__(self) -> None:
        self._pages: dict[int, _Page] = {}

    def counts(self, slot: int, card_id: int, hour: int, day: int) -> tuple[int, int, int]:
        """The card's (requests this hour, requests today, amount today) under `slot`."""
        page = self._pages.get((card_id >> _PAGE_BITS) * _SLOTS + slot)
        if page is None:
            return 0, 0, 0
        index = card_id & _IN_PAGE
        hours, hour_counts, days, day_counts, day_amounts = page
        if days[index] != day & _DAY_TAG:
            return (hour_counts[index] if hours[index] == hour else 0), 0, 0
        return ((hour_counts[index] if hours[index] == hour else 0), day_counts[index],
                day_amounts[index])

    def refusal(self, limit: VelocityLimit, card_id: int, hour: int, day: int,
                amount: int) -> ResponseCode | None:
        """65 when one more request would pass the hour's or the day's count, 61 when `amount`
        more would pass the day's amount; None: within the limits. (One page lookup: the
        per-request check.)"""
        page = self._pages.get((card_id >> _PAGE_BITS) * _SLOTS + limit.slot)
        if page is None:
            hour_requests = day_requests = day_amount = 0
        else:
            index = card_id & _IN_PAGE
            hour_requests = page[1][index] if page[0][index] == hour else 0
            if page[2][index] == day & _DAY_TAG:
                day_requests, day_amount = page[3][index], page[4][index]
            else:
                day_requests = day_amount = 0
        per_hour, per_day = limit.requests_per_hour_max, limit.requests_per_day_max
        if (per_hour is not None and hour_requests >= per_hour) \
                or (per_day is not None and day_requests >= per_day):
            return ResponseCode.FREQUENCY_LIMIT
        if limit.amount_per_day_max is not None and \
                day_amount + amount > limit.amount_per_day_max:
            return ResponseCode.AMOUNT_LIMIT
        return None

    def add(self, slot: int, card_id: int, hour: int, day: int, requests: int,
            amount: int) -> None:
        """`requests` more this hour and today (a load from the journal gives the hour's and
        the day's apart: add twice), `amount` more today."""
        assert card_id > 0 and requests >= 0 and amount >= 0
        key = (card_id >> _PAGE_BITS) * _SLOTS + slot
        page = self._pages.get(key)
        if page is None:
            page = self._pages[key] = _new_page()
        index = card_id & _IN_PAGE
        hours, hour_counts, days, day_counts, day_amounts = page
        day &= _DAY_TAG
        if hours[index] != hour:
            hours[index], hour_counts[index] = hour, 0
        if days[index] != day:
            days[index], day_counts[index], day_amounts[index] = day, 0, 0
        hour_counts[index] = min(hour_counts[index] + requests, _COUNT_MAX)
        day_counts[index] = min(day_counts[index] + requests, _COUNT_MAX)
        day_amounts[index] = min(day_amounts[index] + amount, _AMOUNT_MAX)

    def load(self, slot: int, card_id: int, hour: int, hour_requests: int, day: int,
             day_requests: int, day_amount: int) -> None:
        """The card's counts as the journal has them (a load: over whatever memory had)."""
        key = (card_id >> _PAGE_BITS) * _SLOTS + slot
        page = self._pages.get(key)
        if page is None:
            page = self._pages[key] = _new_page()
        index = card_id & _IN_PAGE
        page[0][index], page[1][index] = hour, min(hour_requests, _COUNT_MAX)
        page[2][index], page[3][index] = day & _DAY_TAG, min(day_requests, _COUNT_MAX)
        page[4][index] = min(day_amount, _AMOUNT_MAX)

    def pages(self) -> int:
        return len(self._pages)


def _new_page() -> _Page:
    return (array("i", _INT4_ZEROS), array("H", _INT2_ZEROS), array("H", _INT2_ZEROS),
            array("H", _INT2_ZEROS), array("I", _INT4_ZEROS))
