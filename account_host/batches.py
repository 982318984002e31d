"""Terminal batches (host interface §4, Batches and Reconciliation): each terminal's open batch
and its running totals, kept in memory so that a 0500 is answered without a query.

The totals count every approved request of the batch that is not reversed, once, in its class:
purchases (000000, 006000 and 0220) in fen, returns in fen, redemptions (900000 and 400060) in
points, stored-value loads in fen. A reversal takes its original out again. They are rebuilt
from the transactions at load (loading_ledger.py).
"""

from __future__ import annotations

from datetime import datetime

from account_host.movements import TransactionType
from proto.frames import Totals

# The first batch of a terminal that has no terminal_batches row yet, and the number after
# the largest (field 60 is six digits).
FIRST_BATCH_NUMBER = 1
LAST_BATCH_NUMBER = 999_999

# Transaction type -> its class: the index of its count in Totals (the amount follows it).
_PURCHASES, _RETURNS, _REDEMPTIONS, _LOADS = 0, 2, 4, 6
TOTALS_CLASS: dict[str, int] = {
    TransactionType.PURCHASE: _PURCHASES,
    TransactionType.STORED_VALUE_PURCHASE: _PURCHASES,
    TransactionType.OFFLINE_PURCHASE: _PURCHASES,
    TransactionType.RETURN: _RETURNS,
    TransactionType.REDEMPTION: _REDEMPTIONS,
    TransactionType.POINTS_EXCHANGE: _REDEMPTIONS,
    TransactionType.LOTTERY: _REDEMPTIONS,      # the stake (host interface 1.2)
    TransactionType.STORED_VALUE_LOAD: _LOADS,
}


def next_batch_number(batch_number: int) -> int:
    return FIRST_BATCH_NUMBER if batch_number == LAST_BATCH_NUMBER else batch_number + 1


def adopt_batch(batches: dict[str, OpenBatch], terminal_code: str, batch_number: int | None,
                now: datetime) -> OpenBatch | None:
    """At a partition other than the default: a terminal it knows nothing of (no open batch
    read at load, nothing counted since) gets the number it asks about as its open batch,
    opened `now`; returns it, for its row to be written (None: nothing adopted).

    The default partition gave the terminal its number at sign-on and holds the batch's other
    parts' history; this partition saw none of it, so 000001 would be a guess, and a wrong one
    answers 12 to every request of the terminal's cards here (docs/plans/partitions.md §3
    "Open number"). Unlike a terminal's first batch, an adopted one gets its row when it opens:
    a load without the row would take the terminal's batch for 000001 and count nothing of
    this one. A number out of field 60's range is not adopted (12 follows)."""
    if terminal_code in batches or batch_number is None:
        return None
    if not FIRST_BATCH_NUMBER <= batch_number <= LAST_BATCH_NUMBER:
        return None
    batch = batches[terminal_code] = OpenBatch(batch_number, now)
    return batch


class OpenBatch:
    """A terminal's open batch: its number, when it opened (None for a terminal's first batch,
    which has no row yet), and its totals as the eight numbers of Totals."""

    __slots__ = ("counts", "number", "opened_at")

    def __init__(self, number: int, opened_at: datetime | None) -> None:
        assert FIRST_BATCH_NUMBER <= number <= LAST_BATCH_NUMBER
        self.number = number
        self.opened_at = opened_at
        self.counts = [0] * 8

    def count(self, transaction_type: str, amount: int, times: int = 1) -> None:
        """Count one approved transaction (times=-1 takes a reversed one out again)."""
        index = TOTALS_CLASS.get(transaction_type)
        if index is not None:
            counts = self.counts
            counts[index] += times
            counts[index + 1] += times * amount
            assert times > 0 or (counts[index] >= 0 and counts[index + 1] >= 0), "below zero"

    def add(self, transaction_type: str, count: int, total: int) -> None:
        """Count `count` transactions of a type that total `total` (negative: take out)."""
        index = TOTALS_CLASS.get(transaction_type)
        if index is None:
            return
        counts = self.counts
        counts[index] += count
        counts[index + 1] += total
        assert counts[index] >= 0 and counts[index + 1] >= 0, "totals below zero"

    def totals(self) -> Totals:
        return Totals(*self.counts)
