"""Merging a reconciliation's parts (switch/reconciliation.py): the terminal sees what one host
holding the whole batch would answer, or 91 when a part is missing or the parts disagree."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from proto.frames import Answer, Totals
from switch.reconciliation import MergeOutcome, merge_parts, sum_totals

FIELDS = len(Totals.__struct_fields__)
AMOUNT_MAX = 10 ** 9

amounts = st.integers(min_value=0, max_value=AMOUNT_MAX)
totals = st.builds(Totals, *[amounts] * FIELDS)
parts_count = st.integers(min_value=1, max_value=8)
other_codes = st.sampled_from(["12", "30", "58", "03", "94", "96"])


def one_host(counted: Totals, claimed: Totals) -> tuple[str, Totals | None]:
    """transactions/reconciliation.py's answer with the whole batch: 00, or 95 with totals."""
    return ("00", None) if counted == claimed else ("95", counted)


def part_answer(counted: Totals, claimed: Totals) -> Answer:
    """A part's answer: its own comparison, and its totals whatever the code."""
    return Answer(0, "00" if counted == claimed else "95", totals=counted)


@st.composite
def split(draw: st.DrawFn, whole: Totals, parts: int) -> list[Totals]:
    """`whole` cut into `parts` totals that sum to it, field by field."""
    columns = []
    for value in msgspec.structs.astuple(whole):
        cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=value),
                                    min_size=parts - 1, max_size=parts - 1)))
        columns.append([high - low for low, high in zip([0, *cuts], [*cuts, value],
                                                          strict=True)])
    return [Totals(*values) for values in zip(*columns, strict=True)]


class TestMerge:
    @given(st.data(), totals, parts_count)
    def test_any_split_merges_to_the_one_host_answer(
        self, data: st.DataObject, counted: Totals, parts: int,
    ) -> None:
        claimed = data.draw(st.just(counted) | totals)
        pieces = data.draw(split(counted, parts))
        assert sum_totals(pieces) == counted
        merged = merge_parts(claimed, [part_answer(piece, claimed) for piece in pieces])
        assert (merged.response_code, merged.totals) == one_host(counted, claimed)
        assert merged.outcome is (MergeOutcome.BALANCED_00 if counted == claimed
                                  else MergeOutcome.OUT_OF_BALANCE_95)

    @given(st.data(), totals, totals, parts_count)
    def test_the_order_of_the_parts_does_not_matter(
        self, data: st.DataObject, counted: Totals, claimed: Totals, parts: int,
    ) -> None:
        answers = [part_answer(piece, claimed) for piece in data.draw(split(counted, parts))]
        shuffled = data.draw(st.permutations(answers))
        assert merge_parts(claimed, shuffled) == merge_parts(claimed, answers)

    @given(st.data(), totals, parts_count, st.sampled_from([None, "91"]))
    def test_a_part_missing_or_unavailable_gives_91(
        self, data: st.DataObject, counted: Totals, parts: int, missing: str | None,
    ) -> None:
        answers: list[Answer | None] = [
            part_answer(piece, counted) for piece in data.draw(split(counted, parts))]
        index = data.draw(st.integers(min_value=0, max_value=parts - 1))
        answers[index] = None if missing is None else Answer(0, missing)
        merged = merge_parts(counted, answers)
        assert (merged.response_code, merged.totals) == ("91", None)
        assert merged.outcome is MergeOutcome.PART_MISSING_91

    @given(parts_count, other_codes)
    def test_every_part_the_same_other_code_gives_that_code(self, parts: int, code: str) -> None:
        merged = merge_parts(Totals(), [Answer(0, code) for _ in range(parts)])
        assert (merged.response_code, merged.totals, merged.outcome) == (
            code, None, MergeOutcome.AGREED)

    @given(st.data(), totals, st.integers(min_value=2, max_value=8), other_codes)
    def test_a_code_beside_totals_gives_91(
        self, data: st.DataObject, counted: Totals, parts: int, code: str,
    ) -> None:
        answers = [part_answer(piece, counted) for piece in data.draw(split(counted, parts))]
        answers[data.draw(st.integers(min_value=0, max_value=parts - 1))] = Answer(0, code)
        merged = merge_parts(counted, answers)
        assert (merged.response_code, merged.outcome) == ("91", MergeOutcome.MIXED_91)

    def test_a_part_without_its_totals_counts_as_missing(self) -> None:
        merged = merge_parts(Totals(), [Answer(0, "00"), Answer(0, "00", totals=Totals())])
        assert (merged.response_code, merged.outcome) == ("91", MergeOutcome.PART_MISSING_91)

    def test_one_part_is_the_host_itself(self) -> None:
        counted = Totals(purchases_count=2, purchases_fen=3_000)
        assert merge_parts(counted, [part_answer(counted, counted)]).response_code == "00"
