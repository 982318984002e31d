"""The order share (host interface 1.2 §4, tag OA) as exact arithmetic: the host's integer
comparison against the same rule in fractions, and the known answers of docs/rules.md."""

from __future__ import annotations

from datetime import time
from fractions import Fraction
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from account_host.state import Alliance
from account_host.transactions.redemption import over_order_share


def _alliance(points_per_yuan: int, share_bp: int) -> Alliance:
    return Alliance(1, ZoneInfo("UTC"), time(23), points_per_yuan,
                    order_points_share_bp=share_bp)


@given(points=st.integers(1, 10**12 - 1), order_fen=st.integers(0, 10**12 - 1),
       points_per_yuan=st.integers(1, 10**6), share_bp=st.integers(0, 10_000))
def test_the_share_is_compared_exactly(points, order_fen, points_per_yuan, share_bp) -> None:
    worth_fen = Fraction(points * 100, points_per_yuan)      # fen per point = 100 / rate
    share_fen = Fraction(share_bp, 10_000) * order_fen
    assert over_order_share(_alliance(points_per_yuan, share_bp), points, order_fen) == (
        worth_fen > share_fen)


def test_known_answers() -> None:
    thirty_percent = _alliance(100, 3000)
    assert not over_order_share(thirty_percent, 3703, 12_345)   # 37.03 <= 37.035 yuan
    assert over_order_share(thirty_percent, 3704, 12_345)       # 37.04 > 37.035 yuan
    at_150 = _alliance(150, 3000)
    assert not over_order_share(at_150, 5555, 12_345)
    assert over_order_share(at_150, 5556, 12_345)
    assert over_order_share(_alliance(100, 5000), 1, 0)          # no order: no points
    assert not over_order_share(_alliance(100, 10_000), 12_345, 12_345)   # all of it
