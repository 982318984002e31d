"""The purchases a return may name by RRN (host interface §4, Return), in memory, so that a
return needs no database round trip.

Compact on purpose: with a 90-day window it holds months of purchases. Each purchase is a row
in typed arrays, with no Python object per purchase: its RRN (8 bytes), five 8-byte numbers
(transaction id, card id, merchant id, amount, points earned) and a byte of flags: 49 bytes a
purchase, plus the arrays' spare room (about 1/16). The fen returned and points clawed back so
far are kept only for the few purchases that have returns, in a dict by row: two columns of
zeros were a quarter of the index (16 MB at 10^6 purchases). Rows live in one segment per UTC
day of posting, so that a day's purchases are forgotten at once when the window passes it.

The host allocates RRNs in increasing order, so rows are appended in RRN order and found by
binary search. Returns keep their running total on the purchase's row (returned fen, points
clawed back), and a reversal of a return gives its share back.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right

_DAY_S = 86_400
_PAID_FROM_STORED_VALUE = 1
_REVERSED = 2
# A purchase's row in _Segment.rows: five 8-byte numbers at these offsets. _POINTS holds the
# points earned in its low 40 bits (a balance is at most 12 digits) and, above them, the last
# day of the lot they went to (0: they never expire), which its returns claw back from first.
_TRANSACTION_ID, _CARD_ID, _MERCHANT_ID, _AMOUNT, _POINTS = range(5)
_ROW_SIZE = 5
_NOTHING_RETURNED = (0, 0)
_LOT_DAY_SHIFT = 40
_POINTS_MASK = (1 << _LOT_DAY_SHIFT) - 1


class _Segment:
    """The purchases posted on one UTC day: their RRNs (sorted), rows and flags, and the
    running totals of those with returns that stand."""

    __slots__ = ("day", "flags", "returned", "rows", "rrns")

    def __init__(self, day: int) -> None:
        self.day = day
        self.rrns = array("q")
        self.rows = array("q")
        self.flags = array("B")
        # By row index: (fen returned, points clawed back), never (0, 0).
        self.returned: dict[int, tuple[int, int]] = {}


class Returnable:
    """A purchase found in the index: a view of its row."""

    __slots__ = ("_base", "_index", "_segment")

    def __init__(self, segment: _Segment, index: int) -> None:
        self._segment = segment
        self._index = index
        self._base = index * _ROW_SIZE

    def _field(self, offset: int) -> int:
        return self._segment.rows[self._base + offset]

    @property
    def transaction_id(self) -> int:
        return self._field(_TRANSACTION_ID)

    @property
    def card_id(self) -> int:
        return self._field(_CARD_ID)

    @property
    def merchant_id(self) -> int:
        return self._field(_MERCHANT_ID)

    @property
    def amount(self) -> int:
        """The purchase's amount in fen (field 4)."""
        return self._field(_AMOUNT)

    @property
    def points(self) -> int:
        """The points it earned."""
        return self._field(_POINTS) & _POINTS_MASK

    @property
    def lot_day(self) -> int:
        """The last day of the lot its points went to (0: none)."""
        return self._field(_POINTS) >> _LOT_DAY_SHIFT

    @property
    def returned(self) -> int:
        """Fen returned so far by returns that stand (not reversed)."""
        return self._segment.returned.get(self._index, _NOTHING_RETURNED)[0]

    @property
    def clawed(self) -> int:
        """Points clawed back so far by those returns."""
        return self._segment.returned.get(self._index, _NOTHING_RETURNED)[1]

    @property
    def paid_from_stored_value(self) -> bool:
        return bool(self._segment.flags[self._index] & _PAID_FROM_STORED_VALUE)

    @property
    def reversed(self) -> bool:
        return bool(self._segment.flags[self._index] & _REVERSED)

    def add_return(self, amount_fen: int, points: int) -> None:
        """Record a return (positive) or the reversal of one (negative)."""
        totals = self._segment.returned
        returned, clawed = totals.get(self._index, _NOTHING_RETURNED)
        returned += amount_fen
        clawed += points
        assert 0 <= returned <= self.amount
        assert 0 <= clawed <= self.points
        if returned or clawed:
            totals[self._index] = (returned, clawed)
        else:   # every return reversed: as if it had none
            totals.pop(self._index, None)

    def mark_reversed(self) -> None:
        self._segment.flags[self._index] |= _REVERSED


class ReturnIndex:
    """Purchases of the last `keep_days` UTC days by RRN; returns may name those of the last
    `window_days` (the host keeps at least the retransmission window, so that a reversal of a
    purchase always finds whether it has returns)."""

    def __init__(self, window_days: int, keep_days: int) -> None:
        assert 0 < window_days <= keep_days
        self.window_days = window_days
        self.keep_days = keep_days
        self._segments: list[_Segment] = []
        self._first_rrns: list[int] = []   # of each segment, for the binary search
        self._last_rrn = 0

    def __len__(self) -> int:
        return sum(len(segment.rrns) for segment in self._segments)

    def add(
        self, rrn: int, posted_s: int, transaction_id: int, card_id: int, merchant_id: int,
        amount_fen: int, points: int, paid_from_stored_value: bool, *, returned: int = 0,
        clawed: int = 0, reversed_: bool = False, lot_day: int = 0,
    ) -> None:
        """Append a purchase; its RRN is above every RRN already here."""
        assert rrn > self._last_rrn, "RRNs are appended in order"
        assert 0 <= points <= _POINTS_MASK and lot_day >= 0
        self._last_rrn = rrn
        segments = self._segments
        day = posted_s // _DAY_S
        if not segments or day > segments[-1].day:
            segments.append(_Segment(day))
            self._first_rrns.append(rrn)
        # A clock that stepped back keeps the purchase in the newest day: days stay in order.
        segment = segments[-1]
        if returned or clawed:
            segment.returned[len(segment.rrns)] = (returned, clawed)
        segment.rrns.append(rrn)
        segment.rows.extend((transaction_id, card_id, merchant_id, amount_fen,
                             (lot_day << _LOT_DAY_SHIFT) | points))
        segment.flags.append((_PAID_FROM_STORED_VALUE if paid_from_stored_value else 0)
                             | (_REVERSED if reversed_ else 0))

    def find(self, rrn: int, now_s: int, *, for_return: bool) -> Returnable | None:
        """The purchase with this RRN, if it is still kept (for a return: within the return
        window); None when it is unknown or too old."""
        position = bisect_right(self._first_rrns, rrn) - 1
        if position < 0:
            return None
        segment = self._segments[position]
        if segment.day <= now_s // _DAY_S - (self.window_days if for_return else self.keep_days):
            return None
        index = bisect_left(segment.rrns, rrn)
        if index == len(segment.rrns) or segment.rrns[index] != rrn:
            return None
        return Returnable(segment, index)

    def evict(self, now_s: int) -> int:
        """Forget the days beyond `keep_days`; returns how many purchases went."""
        horizon_day = now_s // _DAY_S - self.keep_days
        forgotten = 0
        while self._segments and self._segments[0].day <= horizon_day:
            forgotten += len(self._segments.pop(0).rrns)
            self._first_rrns.pop(0)
        return forgotten
