"""The transfer's state machine alone (back_office/transit/states.py): every allowed move, any
other refused, and, driven by any order of steps' outcomes, a transfer always ends applied
(credited) or undone (refused, voided), or stuck only when a void is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from back_office.transit.states import (
    FINAL,
    TRANSITIONS,
    IllegalTransition,
    Move,
    Step,
    StepOutcome,
    TransferState,
    check_invariants,
    check_move,
    next_move,
)

S = TransferState
DONE, REFUSED, PENDING = (StepOutcome("done", "00", "ok"), StepOutcome("refused", "05", "no"),
                          StepOutcome("pending"))


@pytest.mark.parametrize(("state", "steps", "expected"), [
    (S.REQUESTED, {}, Move(S.DEBITING, Step.DEBIT)),
    (S.DEBITING, {Step.DEBIT: PENDING}, None),
    (S.DEBITING, {Step.DEBIT: DONE}, Move(S.DEBITED)),
    (S.DEBITING, {Step.DEBIT: REFUSED}, Move(S.REFUSED, None, "05", "no")),
    (S.DEBITED, {Step.DEBIT: DONE}, Move(S.CREDITING, Step.CREDIT)),
    (S.CREDITING, {Step.DEBIT: DONE, Step.CREDIT: PENDING}, None),
    (S.CREDITING, {Step.DEBIT: DONE, Step.CREDIT: DONE}, Move(S.CREDITED, None, "00", "ok")),
    (S.CREDITING, {Step.DEBIT: DONE, Step.CREDIT: REFUSED}, Move(S.VOIDING, Step.VOID)),
    (S.VOIDING, {Step.DEBIT: DONE, Step.CREDIT: REFUSED, Step.VOID: PENDING}, None),
    (S.VOIDING, {Step.DEBIT: DONE, Step.CREDIT: REFUSED, Step.VOID: DONE},
     Move(S.VOIDED, None, "05", "credit refused (no); the points are back on the giver")),
    (S.VOIDING, {Step.DEBIT: DONE, Step.CREDIT: REFUSED, Step.VOID: REFUSED},
     Move(S.STUCK, None, "05", "void refused (no): the points stay in transit")),
    (S.CREDITED, {Step.DEBIT: DONE, Step.CREDIT: DONE}, None),
    (S.REFUSED, {Step.DEBIT: REFUSED}, None),
])
def test_each_state_moves_on_its_steps_outcome(state, steps, expected) -> None:
    move = next_move(state, steps)
    assert move == expected
    if move is not None:
        check_move(state, move)


def test_every_other_move_is_refused() -> None:
    for before in TransferState:
        for after in TransferState:
            if after in TRANSITIONS[before]:
                continue
            final = after in FINAL
            with pytest.raises(IllegalTransition):
                check_move(before, Move(after, None, "00" if final else None))


@pytest.mark.parametrize(("state", "steps"), [
    (S.REQUESTED, {Step.DEBIT: PENDING}),                    # a debit before its state
    (S.DEBITED, {Step.DEBIT: REFUSED}),                      # debited on a refusal
    (S.CREDITING, {Step.DEBIT: DONE}),                       # no credit written
    (S.CREDITED, {Step.DEBIT: DONE, Step.CREDIT: REFUSED}),  # credited, credit refused
    (S.CREDITED, {Step.DEBIT: DONE, Step.CREDIT: DONE, Step.VOID: DONE}),
    (S.VOIDED, {Step.DEBIT: DONE, Step.CREDIT: DONE, Step.VOID: DONE}),
    (S.REFUSED, {Step.DEBIT: REFUSED, Step.CREDIT: PENDING}),
])
def test_broken_invariants_end_the_driver(state, steps) -> None:
    with pytest.raises(IllegalTransition):
        check_invariants(state, steps)


@given(st.lists(st.sampled_from(["done", "refused", "pending"]), min_size=1, max_size=30))
def test_any_order_of_outcomes_ends_applied_or_undone(outcomes: list[str]) -> None:
    """Hosts decide each written step with the next outcome drawn (pending: not yet); the
    machine never leaves the table, and where it ends, the steps say what happened."""
    state, steps = S.REQUESTED, {}
    draws = iter(outcomes)
    for _ in range(100):
        move = next_move(state, steps)
        if move is None:
            if state in FINAL:
                break
            waiting = next(step for step, outcome in steps.items() if outcome.state == "pending")
            drawn = next(draws, None)
            if drawn is None:
                return   # the hosts have not decided yet: it waits, however long
            steps[waiting] = StepOutcome(drawn, "00" if drawn == "done" else "61", drawn) \
                if drawn != "pending" else StepOutcome("pending")
            continue
        check_move(state, move)
        if move.writes is not None:
            steps[move.writes] = StepOutcome("pending")
        state = move.state
        check_invariants(state, steps)
    assert state in FINAL
    decided = {step: outcome.state for step, outcome in steps.items()}
    assert {
        S.CREDITED: {Step.DEBIT: "done", Step.CREDIT: "done"},
        S.REFUSED: {Step.DEBIT: "refused"},
        S.VOIDED: {Step.DEBIT: "done", Step.CREDIT: "refused", Step.VOID: "done"},
        S.STUCK: {Step.DEBIT: "done", Step.CREDIT: "refused", Step.VOID: "refused"},
    }[state] == decided
