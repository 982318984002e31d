"""A batch judged from its parts in several partitions (clearing/reports/batch_parts.py): open
anywhere is never reconciled; closed everywhere, out of balance exactly when the parts' counted
totals do not add up to the claimed ones, whatever each part's own code says; rows without
totals (before migration 029) by their result code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from clearing.reports.batch_parts import OUT_OF_BALANCE_CODE, BatchPart, batch_issues_of
from clearing.reports.model import NOT_RECONCILED, OUT_OF_BALANCE

OPENED = datetime(2026, 12, 1, 1, tzinfo=UTC)
CLOSED = OPENED + timedelta(hours=20)
TOTALS = st.lists(st.integers(0, 10**9), min_size=8, max_size=8).map(tuple)


def part(counted: tuple[int, ...] | None, claimed: tuple[int, ...] | None, *,
         closed: datetime | None = CLOSED, code: str | None = None, terminal: str = "T1",
         transactions: int = 1) -> BatchPart:
    if code is None and closed is not None and counted is not None and claimed is not None:
        code = "00" if counted == claimed else OUT_OF_BALANCE_CODE
    return BatchPart(terminal, "M1", 1, OPENED, closed, code, claimed, counted, transactions)


def split(whole: tuple[int, ...], cut: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    share = tuple(min(a, b) for a, b in zip(whole, cut, strict=True))
    return share, tuple(a - b for a, b in zip(whole, share, strict=True))


@given(TOTALS, TOTALS)
def test_parts_adding_up_to_the_claim_are_balanced_whatever_their_own_codes(
    claimed: tuple[int, ...], cut: tuple[int, ...],
) -> None:
    first, second = split(claimed, cut)
    parts = [part(first, claimed), part(second, claimed, transactions=2)]
    assert batch_issues_of(parts) == []


@given(TOTALS, TOTALS, st.integers(0, 7), st.integers(1, 5))
def test_parts_short_of_the_claim_are_out_of_balance(
    claimed: tuple[int, ...], cut: tuple[int, ...], column: int, missing: int,
) -> None:
    first, second = split(claimed, cut)
    short = tuple(v + missing if i == column else v for i, v in enumerate(claimed))
    [issue] = batch_issues_of([part(first, short), part(second, short, transactions=2)])
    assert issue.state == OUT_OF_BALANCE and issue.result_code == OUT_OF_BALANCE_CODE
    assert issue.transactions == 3 and issue.closed_at == CLOSED


@given(TOTALS, TOTALS)
def test_one_part_is_judged_as_its_code_says(counted: tuple[int, ...],
                                             claimed: tuple[int, ...]) -> None:
    issues = batch_issues_of([part(counted, claimed)])
    assert (issues != []) == (counted != claimed)


def test_a_part_still_open_leaves_the_batch_unreconciled() -> None:
    claimed = (1, 100, 0, 0, 0, 0, 0, 0)
    [issue] = batch_issues_of([part(claimed, claimed), part(None, None, closed=None)])
    assert issue.state == NOT_RECONCILED and issue.closed_at is None
    assert issue.opened_at == OPENED and issue.transactions == 2


def test_rows_without_totals_go_by_their_code_and_batches_keep_the_report_order() -> None:
    parts = [part(None, None, code="00", terminal="T2"),
             part(None, None, code=OUT_OF_BALANCE_CODE, terminal="T2"),
             part(None, None, code="00", terminal="T1"),
             part(None, None, closed=None, terminal="T0")]
    issues = batch_issues_of(parts)
    assert [(i.terminal, i.state) for i in issues] == [
        ("T0", NOT_RECONCILED), ("T2", OUT_OF_BALANCE)]
