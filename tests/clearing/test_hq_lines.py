"""HQ's own lines for the back office's changes of balances (clearing/compute.py): valued and
signed as HQ's income (+) or payment (-), outside the nets, and absent when nothing moved."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from clearing.compute import clear_day, settle
from clearing.journal import DayJournal
from clearing.rules import Rule, RulesInForce

RULES = RulesInForce(Rule(1, date(2026, 1, 1), Decimal("0.5"), Decimal("0.4"), 0, Decimal(0)),
                     {})


def _hq(totals: dict[tuple[str, int | None], tuple[int, int]]) -> dict[str, tuple[int, int]]:
    journal = DayJournal(totals, {}, 0, 0)
    return {p.category: (p.points, p.amount_fen) for p in clear_day(journal, RULES, [])
            if p.merchant_id is None}


def test_adjustments_and_a_refund_are_hq_lines() -> None:
    lines = _hq({
        # 500 points given, 100 taken back: the points account holds -400
        ("alliance_points_adjusted", None): (-400, 2),
        ("alliance_stored_value_adjusted", None): (-1234, 1),   # 12.34 given
        ("alliance_stored_value_refunded", None): (5000, 1),    # 50.00 paid out in cash
        ("alliance_breakage", None): (300, 1),                  # forfeited at the closure
    })
    assert lines == {"points_adjusted": (-400, -200), "stored_value_adjusted": (0, -1234),
                     "stored_value_refunded": (0, -5000), "breakage": (300, 150)}


def test_nothing_moved_no_line_and_the_nets_still_sum_to_zero() -> None:
    assert _hq({}) == {}
    journal = DayJournal({("alliance_stored_value_refunded", None): (5000, 1)}, {}, 0, 0)
    nets, instructions = settle(clear_day(journal, RULES, []))
    assert [net.net_fen for net in nets] == [0] and instructions == []
