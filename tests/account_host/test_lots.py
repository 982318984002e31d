"""Lots of a points account (account_host/expiry/lots.py): the host's rules against a plain
model (hypothesis), and known answers for each movement."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from account_host.expiry.lots import (
    decode_moves,
    earned_day,
    encode_moves,
    expire,
    moved,
    pack,
    soonest,
    total,
    unpack,
)

DAYS = st.integers(min_value=739_000, max_value=739_010)
POINTS = st.integers(min_value=1, max_value=1_000)


class Model:
    """Oldest first, spelled out: points that never expire, then lots by day; a debt below
    zero is paid by the next earning before it makes a lot."""

    def __init__(self) -> None:
        self.balance = 0
        self.lots: dict[int, int] = {}

    def earn(self, points: int, day: int) -> None:
        debt = max(0, -self.balance)
        self.balance += points
        if points > debt:
            self.lots[day] = self.lots.get(day, 0) + points - debt

    def take(self, points: int, first_day: int = 0) -> None:
        """A spend (first_day 0) or a claw-back of the earning at first_day."""
        self.balance -= points
        if first_day:
            from_lot = min(points, self.lots.get(first_day, 0))
            self.lots[first_day] = self.lots.get(first_day, 0) - from_lot
            points -= from_lot
        never = max(0, self.balance + points) - sum(self.lots.values())
        points -= min(points, max(0, never))
        for day in sorted(self.lots):
            from_lot = min(points, self.lots[day])
            self.lots[day] -= from_lot
            points -= from_lot
        self.lots = {day: left for day, left in self.lots.items() if left}


OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("earn"), POINTS, DAYS),
    st.tuples(st.just("spend"), POINTS, st.just(0)),
    st.tuples(st.just("claw"), POINTS, DAYS),
    st.tuples(st.just("legacy"), POINTS, st.just(0)),   # points that never expire
    st.tuples(st.just("draw"), POINTS, DAYS),   # a lottery stake of 50, a prize of points
), max_size=30)
STAKE = 50


@given(OPERATIONS)
def test_the_host_keeps_lots_as_the_model_does(operations) -> None:
    model, packed, balance = Model(), b"", 0
    for kind, points, day in operations:
        before = packed
        if kind == "earn":
            balance += points
            model.earn(points, day)
            packed, moves = moved(packed, balance, earned=points, earned_day=day)
        elif kind == "legacy":
            balance += points
            model.earn(points, 0)
            model.lots.pop(0, None)
            packed, moves = moved(packed, balance, earned=points)
        elif kind == "draw":
            if balance < STAKE:
                continue
            balance += points - STAKE   # one posting: the prize less the stake
            model.earn(points, day)
            model.take(STAKE)
            packed, moves = moved(packed, balance, earned=points, earned_day=day)
        elif kind == "spend":
            if balance < points:
                continue   # 51: a spend never takes a balance below zero
            balance -= points
            model.take(points)
            packed, moves = moved(packed, balance)
        else:
            balance -= points
            model.take(points, day)
            packed, moves = moved(packed, balance, claw=points, claw_day=day)
        assert unpack(packed) == model.lots
        assert total(packed) <= max(0, balance)
        # The moves are the difference, and what an undo of them would start from.
        changes = dict(zip(moves[::2], moves[1::2], strict=True))
        for lot_day in unpack(before).keys() | unpack(packed).keys():
            assert unpack(packed).get(lot_day, 0) - unpack(before).get(lot_day, 0) \
                == changes.get(lot_day, 0)


@given(st.dictionaries(DAYS, POINTS, max_size=6), POINTS, st.integers(0, 500))
def test_a_reversed_spend_gives_the_points_back_to_their_lots(lots, spent, never) -> None:
    packed = pack(lots)
    balance = sum(lots.values()) + never
    spent = min(spent, balance)
    after_spend, moves = moved(packed, balance - spent)
    restored, _ = moved(after_spend, balance, undo=moves)
    assert unpack(restored) == unpack(packed)


@given(st.dictionaries(DAYS, POINTS, max_size=6), DAYS)
def test_expiry_takes_exactly_the_lots_before_the_day(lots, through) -> None:
    left, points, moves = expire(pack(lots), through)
    assert points == sum(p for day, p in lots.items() if day < through)
    assert unpack(left) == {day: p for day, p in lots.items() if day >= through}
    assert sum(moves[1::2]) == -points
    assert decode_moves(encode_moves(moves)) == moves


def test_known_answers() -> None:
    march, april = 739_000, 739_030
    # 100 earned in March, 50 in April, 30 that never expire: a spend of 150 takes the 30
    # first, then the 100 of March, then 20 of April.
    packed, _ = moved(b"", 100, earned=100, earned_day=march)
    packed, moves = moved(packed, 150, earned=50, earned_day=april)
    assert moves == (april, 50) and earned_day(moves) == april
    packed, _ = moved(packed, 180)   # 30 points that never expire (a lot of none)
    packed, moves = moved(packed, 30)
    assert unpack(packed) == {april: 30} and moves == (march, -100, april, -20)
    # A claw-back of the April purchase's 30 takes its lot; a further 10 goes below zero.
    packed, moves = moved(packed, -10, claw=40, claw_day=april)
    assert packed == b"" and moves == (april, -30)
    # The next earning pays the debt first: 25 earned, 15 in a lot.
    packed, moves = moved(packed, 15, earned=25, earned_day=april)
    assert soonest(packed) == (april, 15) and moves == (april, 15)
    assert soonest(b"") is None
