"""Merging the parts of a reconciliation fanned out over partitions into the one answer the
terminal gets (docs/plans/partitions.md §3). Sans I/O: the forwarder collects the parts and
calls `merge_parts` once every part is in, or once one is known to be missing.

A terminal's batch has a part in every partition, counted where each approval posted; each
part closes by itself and answers its own totals. The terminal must see what one host holding
the whole batch would answer:

- every part 00 or 95: the sum of their totals is the batch's; 00 when it equals the
  terminal's fields 74-77 and 86-89, else 95 with the sum (a part's own code compared the
  part with the whole claim, so it says nothing about the batch);
- every part the same other code (12: the batch is not open anywhere; 30, 58, ...): that code,
  which one host would have answered too;
- a part missing (its host's link down, its 91, no answer in time) or parts that disagree
  (12 in one, totals in another: a partition lagging after an earlier 91): 91. 95 would be a
  false verdict on partial totals, 00 would hide the missing partition's approvals; 91 says the
  host is unavailable, which is true, and the terminal's retry or the front's store-and-forward
  sends the same key again, which closed parts answer with their first answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import msgspec

from proto.codes import ResponseCode
from proto.frames import Answer, Totals

_TOTALLED = frozenset({ResponseCode.APPROVED.value, ResponseCode.OUT_OF_BALANCE.value})
_UNAVAILABLE = ResponseCode.HOST_UNAVAILABLE.value


class MergeOutcome(StrEnum):
    """How the parts were merged (the label `outcome` of jifen_switch_reconciliations)."""

    BALANCED_00 = "balanced_00"
    OUT_OF_BALANCE_95 = "out_of_balance_95"
    AGREED = "agreed"                    # every part the same other code (12, 30, 58, ...)
    PART_MISSING_91 = "part_missing_91"  # a part not answered, 91, or without its totals
    MIXED_91 = "mixed_91"                # parts with different codes (12 beside totals)


class Merged(msgspec.Struct, frozen=True):
    """The terminal's answer: field 39, and fields 74-77 and 86-89 when it is 95."""

    response_code: str
    totals: Totals | None
    outcome: MergeOutcome


def merge_parts(claimed: Totals | None, parts: Sequence[Answer | None]) -> Merged:
    """The one answer of a reconciliation whose parts answered `parts` (None: no answer)."""
    assert parts, "a reconciliation has a part in every partition"
    answered: list[Answer] = []
    for part in parts:
        if part is None or part.response_code == _UNAVAILABLE:
            return Merged(_UNAVAILABLE, None, MergeOutcome.PART_MISSING_91)
        answered.append(part)
    codes = {part.response_code for part in answered}
    if codes <= _TOTALLED:
        part_totals = [part.totals for part in answered]
        if any(totals is None for totals in part_totals):
            # A host of the release before parts, or a first answer given to a whole 0500:
            # its share of the batch is not known.
            return Merged(_UNAVAILABLE, None, MergeOutcome.PART_MISSING_91)
        total = sum_totals([totals for totals in part_totals if totals is not None])
        if total == claimed:
            return Merged(ResponseCode.APPROVED.value, None, MergeOutcome.BALANCED_00)
        return Merged(ResponseCode.OUT_OF_BALANCE.value, total, MergeOutcome.OUT_OF_BALANCE_95)
    if len(codes) == 1:
        return Merged(answered[0].response_code, None, MergeOutcome.AGREED)
    return Merged(_UNAVAILABLE, None, MergeOutcome.MIXED_91)


def sum_totals(parts: Sequence[Totals]) -> Totals:
    """Field by field: counts and amounts of each class add over partitions."""
    return Totals(*(sum(values) for values in zip(*(msgspec.structs.astuple(totals)
                                                     for totals in parts), strict=True)))
