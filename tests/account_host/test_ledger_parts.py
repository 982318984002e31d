"""The ledger's parts on their own: the return index, the running-total claw-back, batch
totals, tombstones, the exchange's rounding and the card check's Luhn."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from account_host.batches import LAST_BATCH_NUMBER, OpenBatch, next_batch_number
from account_host.checks import luhn_valid
from account_host.movements import TransactionType
from account_host.returns_index import ReturnIndex
from account_host.tombstones import Tombstones
from account_host.transactions.points_exchange import exchanged_fen
from account_host.transactions.purchase_return import clawed_back
from proto.frames import Totals
from proto.pan import luhn_valid as reference_luhn_valid

DAY_S = 86_400
NOW_S = 20_000 * DAY_S + 3_600


class TestReturnIndex:
    def index(self) -> ReturnIndex:
        index = ReturnIndex(window_days=3, keep_days=5)
        for day_back, rrn in ((5, 10), (4, 20), (2, 30), (0, 40), (0, 41)):
            index.add(rrn, NOW_S - day_back * DAY_S, rrn * 100, 7, 3, 1_000, 10,
                      paid_from_stored_value=rrn == 41)
        return index

    def test_finds_by_rrn_within_the_window(self) -> None:
        index = self.index()
        found = index.find(41, NOW_S, for_return=True)
        assert found is not None
        assert (found.transaction_id, found.card_id, found.merchant_id, found.amount,
                found.points, found.paid_from_stored_value) == (4_100, 7, 3, 1_000, 10, True)
        assert index.find(30, NOW_S, for_return=True) is not None
        assert index.find(20, NOW_S, for_return=True) is None       # beyond the 3 days
        assert index.find(20, NOW_S, for_return=False) is not None  # still kept
        assert index.find(35, NOW_S, for_return=True) is None
        assert index.find(1, NOW_S, for_return=False) is None
        assert index.find(99, NOW_S, for_return=False) is None

    def test_evicts_whole_days_beyond_keep_days(self) -> None:
        index = self.index()
        assert index.evict(NOW_S) == 1
        assert len(index) == 4
        assert index.find(10, NOW_S, for_return=False) is None
        assert index.evict(NOW_S + 5 * DAY_S) == 4
        assert len(index) == 0 and index.find(41, NOW_S, for_return=False) is None

    def test_returns_and_their_reversal_move_the_running_total(self) -> None:
        index = self.index()
        purchase = index.find(40, NOW_S, for_return=True)
        assert purchase is not None
        purchase.add_return(600, 6)
        purchase.add_return(-600, -6)
        purchase.add_return(1_000, 10)
        again = index.find(40, NOW_S, for_return=True)
        assert again is not None and (again.returned, again.clawed) == (1_000, 10)
        with pytest.raises(AssertionError):
            again.add_return(1, 0)
        assert not again.reversed
        again.mark_reversed()
        assert index.find(40, NOW_S, for_return=True).reversed   # type: ignore[union-attr]

    def test_rrns_must_grow(self) -> None:
        index = self.index()
        with pytest.raises(AssertionError):
            index.add(41, NOW_S, 1, 1, 1, 1, 0, False)

    def test_a_clock_stepping_back_keeps_days_in_order(self) -> None:
        index = ReturnIndex(window_days=3, keep_days=3)
        index.add(1, NOW_S, 1, 1, 1, 100, 1, False)
        index.add(2, NOW_S - DAY_S, 2, 1, 1, 100, 1, False)
        assert index.find(2, NOW_S, for_return=True) is not None

    @given(purchases=st.lists(st.tuples(st.integers(1, 10**12), st.integers(0, 10**10),
                                        st.integers(0, 10**12), st.booleans()),
                              min_size=1, max_size=12),
           moves=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 10**12),
                                    st.integers(0, 10**10), st.booleans()), max_size=30))
    def test_running_totals_follow_a_plain_model(
        self, purchases: list[tuple[int, int, int, bool]],
        moves: list[tuple[int, int, int, bool]],
    ) -> None:
        """Purchases loaded with what their returns returned (or none), then returns and
        reversals of returns: each purchase's totals are those of a list of its returns."""
        index = ReturnIndex(window_days=3, keep_days=5)
        standing: list[list[tuple[int, int]]] = []
        for number, (amount, points, returned, half) in enumerate(purchases, 1):
            loaded = [(min(returned, amount), points // 2 if half else 0)]
            index.add(number, NOW_S - (number % 3) * DAY_S, number, 7, 3, amount, points,
                      False, returned=loaded[0][0], clawed=loaded[0][1])
            standing.append(loaded)
        for which, fen, claw, undo in moves:
            number = which % len(purchases) + 1
            purchase = index.find(number, NOW_S, for_return=True)
            assert purchase is not None
            returns = standing[number - 1]
            if undo and returns:
                fen, claw = returns.pop()
                purchase.add_return(-fen, -claw)
                continue
            amount, points = purchase.amount, purchase.points
            fen = min(fen, amount - sum(f for f, _ in returns))
            claw = min(claw, points - sum(c for _, c in returns))
            purchase.add_return(fen, claw)
            returns.append((fen, claw))
        for number, returns in enumerate(standing, 1):
            purchase = index.find(number, NOW_S, for_return=True)
            assert purchase is not None
            assert (purchase.returned, purchase.clawed) == \
                (sum(f for f, _ in returns), sum(c for _, c in returns))
            assert (purchase.transaction_id, purchase.amount, purchase.points) == \
                (number, purchases[number - 1][0], purchases[number - 1][1])


class TestClawBack:
    def test_the_issue_example(self) -> None:
        clawed = returned = 0
        claws = []
        for amount in (3_333, 3_333, 3_334):
            returned += amount
            claw = clawed_back(100, 10_000, returned, clawed)
            clawed += claw
            claws.append(claw)
        assert claws == [33, 33, 34]

    @given(points=st.integers(0, 10**10), amount=st.integers(1, 10**12),
           cuts=st.lists(st.integers(0, 10**12), max_size=8))
    def test_running_total_is_floor_and_everything_claws_all(
        self, points: int, amount: int, cuts: list[int]
    ) -> None:
        marks = sorted({min(cut, amount) for cut in cuts} | {amount})
        clawed = 0
        for returned in marks:
            clawed += clawed_back(points, amount, returned, clawed)
            assert clawed == points * returned // amount
        assert clawed == points

    def test_never_negative_after_a_reversed_return(self) -> None:
        # P=1, A=4: returns of 1, 1, 1, 1 claw 0, 0, 0, 1; reversing the first two leaves
        # 2 fen returned with 1 point clawed, above floor(1 x 3 / 4) = 0 for the next return.
        assert clawed_back(1, 4, 3, 1) == 0
        assert clawed_back(1, 4, 4, 1) == 0


class TestBatches:
    def test_counts_each_class_and_takes_reversed_out(self) -> None:
        batch = OpenBatch(7, None)
        for kind, amount in ((TransactionType.PURCHASE, 100),
                             (TransactionType.STORED_VALUE_PURCHASE, 200),
                             (TransactionType.OFFLINE_PURCHASE, 300),
                             (TransactionType.RETURN, 50),
                             (TransactionType.REDEMPTION, 20),
                             (TransactionType.POINTS_EXCHANGE, 30),
                             (TransactionType.STORED_VALUE_LOAD, 1_000),
                             (TransactionType.REVERSAL, 999)):
            batch.count(kind, amount)
        batch.count(TransactionType.PURCHASE, 100, times=-1)
        assert batch.totals() == Totals(2, 500, 1, 50, 2, 50, 1, 1_000)

    def test_numbers_wrap_after_999999(self) -> None:
        assert next_batch_number(1) == 2
        assert next_batch_number(LAST_BATCH_NUMBER) == 1


class TestTombstones:
    def test_kept_for_the_window(self) -> None:
        tombstones = Tombstones(window_s=100)
        tombstones.add("T|0200|000001|0101000000", 1_000)
        assert tombstones.is_buried("T|0200|000001|0101000000", 1_099)
        assert not tombstones.is_buried("T|0200|000001|0101000000", 1_100)
        assert not tombstones.is_buried("T|0200|000002|0101000000", 1_000)
        tombstones.evict(10_000)
        assert len(tombstones) == 0


class TestExchangeRounding:
    @pytest.mark.parametrize(("points", "rate", "fen"), [
        (100, 100, 100), (250, 100, 250), (100, 150, 66), (1, 150, 0), (149, 150, 99),
        (999_999_999_999, 1, 99_999_999_999_900),
    ])
    def test_fen_rounded_down(self, points: int, rate: int, fen: int) -> None:
        assert exchanged_fen(points, rate) == fen


class TestLuhn:
    def test_agrees_with_proto(self) -> None:
        generator = random.Random(4)
        pans = ["".join(generator.choice("0123456789") for _ in range(generator.randint(2, 19)))
                for _ in range(5_000)]
        pans += ["6221880000000013", "62218800000000a3", "", "7", "٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣"]
        for pan in pans:
            assert luhn_valid(pan) == (pan.isascii() and reference_luhn_valid(pan)), pan
