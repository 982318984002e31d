"""A terminal batch's verdict from its parts (docs/plans/partitions.md §3), sans I/O.

With several partitions a terminal's batch has a part in each: its `terminal_batches` row
there, with the totals the terminal claimed in its 0500 and those that partition counted. The
batch was never reconciled while any part is open (or its first batch has no row at all); it
was out of balance when the parts' counted totals do not add up to what was claimed, though
each part's own result code compares only its share. Rows from before migration 029 carry no
totals: their result code is the verdict, as with one partition, where the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from clearing.reports.model import NOT_RECONCILED, OUT_OF_BALANCE, BatchIssue

OUT_OF_BALANCE_CODE = "95"   # host interface §4: 0510 answered 95, totals differ


class BatchPart(msgspec.Struct, frozen=True):
    """One partition's row of a batch of the date, and its transactions of the date."""

    terminal: str
    merchant: str
    batch_number: int
    opened_at: datetime | None         # None: the terminal's first batch, no row yet
    closed_at: datetime | None         # None: this part is open
    result_code: str | None
    claimed: tuple[int, ...] | None    # proto/frames.py Totals' order; None before 029
    counted: tuple[int, ...] | None
    transactions: int


def batch_issues_of(parts: Iterable[BatchPart]) -> list[BatchIssue]:
    """The batches out of balance or never reconciled, each judged from all its parts, in
    the report's order (merchant, terminal, batch number)."""
    batches: dict[tuple[str, str, int], list[BatchPart]] = {}
    for part in parts:
        batches.setdefault((part.merchant, part.terminal, part.batch_number), []).append(part)
    return [issue for key in sorted(batches) if (issue := _verdict(batches[key])) is not None]


def _verdict(parts: list[BatchPart]) -> BatchIssue | None:
    first = parts[0]
    transactions = sum(part.transactions for part in parts)
    opened = [part.opened_at for part in parts if part.opened_at is not None]
    opened_at = min(opened) if opened else None
    closed = [part.closed_at for part in parts if part.closed_at is not None]
    if len(closed) < len(parts):
        return BatchIssue(first.terminal, first.merchant, first.batch_number, NOT_RECONCILED,
                          opened_at, None, None, transactions)
    if not _out_of_balance(parts):
        return None
    return BatchIssue(first.terminal, first.merchant, first.batch_number, OUT_OF_BALANCE,
                      opened_at, max(closed), OUT_OF_BALANCE_CODE, transactions)


def _out_of_balance(parts: list[BatchPart]) -> bool:
    claimed = next((part.claimed for part in parts if part.claimed is not None), None)
    counted = [part.counted for part in parts if part.counted is not None]
    if claimed is None or len(counted) < len(parts):
        return any(part.result_code == OUT_OF_BALANCE_CODE for part in parts)
    return [sum(column) for column in zip(*counted, strict=True)] != list(claimed)
