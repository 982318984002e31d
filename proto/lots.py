"""How a points account's lots are stored (accounts.lots, migration 025): the account host
writes them, the back office and the audit read them. 8 bytes a lot, big-endian, soonest
first: the last day on which its points can be spent (a date ordinal, in the alliance's time
zone) above bit 40, its points below (a balance is at most 12 digits, under 2^40). A
transaction's moves (transactions.lot_moves) are 12 bytes each: the day (int4) and the signed
points (int8)."""

from __future__ import annotations

import struct
from datetime import date

LOT_DAY_SHIFT = 40
LOT_POINTS_MASK = (1 << LOT_DAY_SHIFT) - 1
LOT = struct.Struct(">Q")
MOVE = struct.Struct(">iq")


def write_lots(lots: list[tuple[date, int]]) -> bytes:
    """The stored form of (last day, points) lots, soonest first (one per day)."""
    return b"".join(LOT.pack((day.toordinal() << LOT_DAY_SHIFT) | points)
                    for day, points in sorted(lots))


def read_lots(packed: bytes | None) -> list[tuple[date, int]]:
    """(last day, points) of each lot, soonest first ([] for none)."""
    if not packed:
        return []
    return [(date.fromordinal(value >> LOT_DAY_SHIFT), value & LOT_POINTS_MASK)
            for (value,) in LOT.iter_unpack(packed)]
