"""A points account's lots, sans I/O: how every movement of points changes them.

A lot is (last day, points): points that can be spent through that local day (a date
ordinal). An account keeps its lots packed, soonest first, one per last day, in 8 bytes each
(proto/lots.py: the format the database keeps in accounts.lots, which the back office and the
audit read), so 10^6 cards with a few lots each cost tens of megabytes.

The points of a balance that no lot holds (`max(0, balance) - sum(lots)`) never expire: they
were earned before the alliance's rules had an expiry, or while it had none. The rules every
movement follows (docs/rules.md, "Expiring points"):
- an earning adds a lot at its last day (none where points do not expire);
- a claw-back of an earning (a return) takes first from the lot that earning made;
- a reversal undoes the moves of its original: points taken go back to their lots, a lot made
  is taken back; a transfer's receiving card undoes the giver's moves, so points keep their
  last days when they change hands;
- then whatever the lots hold beyond the balance after the movement (a spend, or the rest of
  a claw-back) is taken oldest first: points that never expire, then the soonest lot. So a
  balance below zero has no lots, and an earning pays that debt before it makes a lot.

Each movement's moves (day, signed points) are what its reversal undoes.
"""

from __future__ import annotations

import struct

from proto.lots import LOT as _LOT
from proto.lots import LOT_DAY_SHIFT as _DAY_SHIFT
from proto.lots import LOT_POINTS_MASK as _POINTS_MASK
from proto.lots import MOVE as _MOVE

Lots = bytes           # packed, soonest first; b"" for none
Moves = tuple[int, ...]  # day, signed points, day, signed points, ...


def unpack(packed: Lots) -> dict[int, int]:
    """day -> points, soonest first."""
    count = len(packed) // 8
    values = struct.unpack(f">{count}Q", packed)
    return {value >> _DAY_SHIFT: value & _POINTS_MASK for value in values}


def pack(lots: dict[int, int]) -> Lots:
    values = sorted((day << _DAY_SHIFT) | points for day, points in lots.items() if points)
    assert all(0 < value & _POINTS_MASK for value in values)
    return struct.pack(f">{len(values)}Q", *values)


def soonest(packed: Lots) -> tuple[int, int] | None:
    """The soonest lot's (last day, points), None without lots."""
    if not packed:
        return None
    (value,) = struct.unpack_from(">Q", packed)
    return value >> _DAY_SHIFT, value & _POINTS_MASK


def _latest(packed: Lots) -> tuple[int, int] | None:
    if not packed:
        return None
    (value,) = _LOT.unpack_from(packed, len(packed) - 8)
    return value >> _DAY_SHIFT, value & _POINTS_MASK


def soonest_day(packed: Lots) -> int:
    """The soonest lot's last day (packed holds at least one lot)."""
    (value,) = struct.unpack_from(">Q", packed)
    return int(value >> _DAY_SHIFT)


def total(packed: Lots) -> int:
    values = struct.unpack(f">{len(packed) // 8}Q", packed)
    return sum(value & _POINTS_MASK for value in values)


def moved(
    packed: Lots, balance_after: int, *, earned: int = 0, earned_day: int = 0,
    claw: int = 0, claw_day: int = 0, undo: Moves = (),
) -> tuple[Lots, Moves]:
    """The lots after a movement that leaves the balance at `balance_after`, and its moves.
    `earned` points go to a lot at `earned_day` (0: they never expire); `claw` points come
    first from the lot at `claw_day`; `undo`: an earlier movement's moves, undone."""
    if earned > 0 and earned_day and not claw and not undo \
            and balance_after - earned >= total(packed):
        # Most movements: a purchase whose lot is the newest, and nothing in excess after it
        # (not so for a draw whose stake is taken as its prize is earned).
        latest = _latest(packed)
        if latest is None or latest[0] < earned_day:
            return packed + _LOT.pack((earned_day << _DAY_SHIFT) | earned), (earned_day, earned)
        if latest[0] == earned_day:
            grown = _LOT.pack((earned_day << _DAY_SHIFT) | (latest[1] + earned))
            return packed[:-8] + grown, (earned_day, earned)
    lots = unpack(packed)
    before = dict(lots)
    for index in range(0, len(undo), 2):
        day, points = undo[index], undo[index + 1]
        if points < 0:
            lots[day] = lots.get(day, 0) - points
        else:
            lots[day] = lots.get(day, 0) - min(points, lots.get(day, 0))
    if claw and claw_day:
        lots[claw_day] = lots.get(claw_day, 0) - min(claw, lots.get(claw_day, 0))
    if earned > 0 and earned_day:
        lots[earned_day] = lots.get(earned_day, 0) + earned
    excess = sum(lots.values()) - max(0, balance_after)
    if excess > 0:
        for day in sorted(lots):
            taken = min(excess, lots[day])
            lots[day] -= taken
            excess -= taken
            if not excess:
                break
        assert not excess, "lots hold more than the balance"
    return pack(lots), _moves(before, lots)


def expire(packed: Lots, through_day: int) -> tuple[Lots, int, Moves]:
    """The lots whose last day is before `through_day` removed: the lots left, the points
    expired, and the moves."""
    lots = unpack(packed)
    expired = {day: points for day, points in lots.items() if day < through_day}
    if not expired:
        return packed, 0, ()
    left = {day: points for day, points in lots.items() if day >= through_day}
    return pack(left), sum(expired.values()), _moves(lots, left)


def _moves(before: dict[int, int], after: dict[int, int]) -> Moves:
    """The changes from `before` to `after` by day (a lot of 0 points is no lot)."""
    flat: list[int] = []
    for day in sorted(before.keys() | after.keys()):
        change = after.get(day, 0) - before.get(day, 0)
        if change:
            flat += (day, change)
    return tuple(flat)


def earned_day(moves: Moves) -> int:
    """The day of the lot a movement made (0: it made none)."""
    for index in range(0, len(moves), 2):
        if moves[index + 1] > 0:
            return moves[index]
    return 0


def encode_moves(moves: Moves) -> bytes | None:
    """As stored in transactions.lot_moves (None: no moves)."""
    if not moves:
        return None
    return b"".join(_MOVE.pack(moves[index], moves[index + 1])
                    for index in range(0, len(moves), 2))


def decode_moves(stored: bytes | None) -> Moves:
    if not stored:
        return ()
    return tuple(value for pair in _MOVE.iter_unpack(stored) for value in pair)
