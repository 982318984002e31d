"""Each card's points earned in the alliance's local day and month, for the caps per day and
per month: kept only for alliances whose rules count them, and only for cards that earned in
the current month (a few ints each).

A reversal of an earning gives its points back to the day and month in which it is reversed
(never below zero): reversals come within minutes of their original."""

from __future__ import annotations


class EarnCounters:
    __slots__ = ("_cards",)

    def __init__(self) -> None:
        # card id -> [local day ordinal, points that day, month key (year*12+month), points]
        self._cards: dict[int, list[int]] = {}

    def earned(self, card_id: int, day: int, month: int) -> tuple[int, int]:
        """Points of the card in `day` and in `month` so far."""
        counts = self._cards.get(card_id)
        if counts is None:
            return 0, 0
        return (counts[1] if counts[0] == day else 0, counts[3] if counts[2] == month else 0)

    def add(self, card_id: int, day: int, month: int, points: int) -> None:
        """`points` (negative: a reversal) to the card's day and month, never below zero."""
        day_points, month_points = self.earned(card_id, day, month)
        self._cards[card_id] = [day, max(0, day_points + points), month,
                                max(0, month_points + points)]

    def load(self, card_id: int, day: int, day_points: int, month: int,
             month_points: int) -> None:
        """The card's day and month as the journal has them."""
        self._cards[card_id] = [day, max(0, day_points), month, max(0, month_points)]

    def merge(self, rows: list[tuple[int, int, int, int, int]]) -> None:
        """Rows read from the journal (card, day, its points, month, its points), for the
        cards not counted in memory this month: what memory counts is ahead of the journal
        (a batch in flight), what it does not was earned before the caps counted."""
        for card_id, day, day_points, month, month_points in rows:
            known = self._cards.get(card_id)
            if known is None or known[2] != month:
                self.load(card_id, day, day_points, month, month_points)

    def forget_before(self, month: int) -> None:
        """Cards that earned nothing in `month` (a new month began): their entries go."""
        self._cards = {card_id: counts for card_id, counts in self._cards.items()
                       if counts[2] >= month}

    def __len__(self) -> int:
        return len(self._cards)
