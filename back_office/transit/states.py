"""A transfer between partitions as a state machine, sans I/O (h11's `_state.py` style).

Each transition is taken on an outcome of one of the transfer's steps (host commands decided by
a partition's host), never on a timeout: a step waits for its partition however long. The
driver (driver.py) takes one transition per database transaction, so a crash anywhere leaves
the transfer in a named state with every command it issued in the database.

| state       | next                        | on                                                 |
|-------------|-----------------------------|----------------------------------------------------|
| requested   | debiting                    | the debit written                                  |
| debiting    | debited / refused (final)   | the debit's outcome: 00 / any other (nothing moved)|
| debited     | crediting                   | the credit written                                 |
| crediting   | credited (final) / voiding  | the credit's outcome: 00 / any other (void written)|
| voiding     | voided (final) / stuck      | the void's outcome: 00 / any other (an operator's) |
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class TransferState(StrEnum):
    REQUESTED = "requested"
    DEBITING = "debiting"
    DEBITED = "debited"
    CREDITING = "crediting"
    VOIDING = "voiding"
    REFUSED = "refused"     # the debit refused: nothing moved
    CREDITED = "credited"   # the points are on the taker
    VOIDED = "voided"       # the credit refused: the points are back on the giver
    STUCK = "stuck"         # the void refused: in transit until an operator acts


class Step(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"
    VOID = "void"


FINAL = frozenset({TransferState.REFUSED, TransferState.CREDITED, TransferState.VOIDED,
                   TransferState.STUCK})

# state -> the states it may move to
TRANSITIONS: dict[TransferState, frozenset[TransferState]] = {
    TransferState.REQUESTED: frozenset({TransferState.DEBITING}),
    TransferState.DEBITING: frozenset({TransferState.DEBITED, TransferState.REFUSED}),
    TransferState.DEBITED: frozenset({TransferState.CREDITING}),
    TransferState.CREDITING: frozenset({TransferState.CREDITED, TransferState.VOIDING}),
    TransferState.VOIDING: frozenset({TransferState.VOIDED, TransferState.STUCK}),
    **{state: frozenset() for state in FINAL},
}
# The step each state writes as it is entered, which is the step whose outcome it waits for.
WRITES: dict[TransferState, Step] = {
    TransferState.DEBITING: Step.DEBIT, TransferState.CREDITING: Step.CREDIT,
    TransferState.VOIDING: Step.VOID,
}


class StepOutcome(msgspec.Struct, frozen=True):
    """A step's command as central's copy of it stands."""

    state: str                      # pending, done, refused
    result_code: str | None = None
    result: str | None = None


class Move(msgspec.Struct, frozen=True):
    """The next transition: the state, the step to write with it (None: none), and for a
    final state the code and text that end the transfer."""

    state: TransferState
    writes: Step | None = None
    result_code: str | None = None
    result: str | None = None


class IllegalTransition(AssertionError):
    """A move the table does not allow, or a state whose invariants do not hold: a bug, which
    ends the driver (its supervisor restarts it from the database)."""


def next_move(state: TransferState, steps: dict[Step, StepOutcome]) -> Move | None:
    """Where the transfer goes from `state` given its steps' outcomes; None: it waits."""
    check_invariants(state, steps)
    if state is TransferState.REQUESTED:
        return _entering(TransferState.DEBITING)
    if state is TransferState.DEBITED:
        return _entering(TransferState.CREDITING)
    waited = WRITES.get(state)   # a state that wrote a step waits for its outcome
    if waited is None:
        return None   # final
    outcome = steps[waited]
    if outcome.state == "pending":
        return None
    approved = outcome.state == "done"
    if state is TransferState.DEBITING:
        return (Move(TransferState.DEBITED) if approved
                else Move(TransferState.REFUSED, None, outcome.result_code, outcome.result))
    if state is TransferState.CREDITING:
        return (Move(TransferState.CREDITED, None, outcome.result_code, outcome.result)
                if approved else _entering(TransferState.VOIDING))
    credit = steps[Step.CREDIT]
    if approved:   # voided: the transfer ends with the credit's refusal, which is its answer
        return Move(TransferState.VOIDED, None, credit.result_code,
                    f"credit refused ({credit.result}); the points are back on the giver")
    return Move(TransferState.STUCK, None, outcome.result_code,
                f"void refused ({outcome.result}): the points stay in transit")


def check_move(before: TransferState, move: Move) -> None:
    if move.state not in TRANSITIONS[before]:
        raise IllegalTransition(f"a transfer does not move from {before} to {move.state}")
    if (move.state in FINAL) != (move.result_code is not None):
        raise IllegalTransition(f"{move.state} ends with a code exactly when final")
    if move.writes is not WRITES.get(move.state):
        raise IllegalTransition(f"{move.state} writes {WRITES.get(move.state)}")


def check_invariants(state: TransferState, steps: dict[Step, StepOutcome]) -> None:
    """What each state holds of its steps' commands (central's copy)."""
    issued = set(steps)
    expected = {
        TransferState.REQUESTED: set(), TransferState.DEBITING: {Step.DEBIT},
        TransferState.DEBITED: {Step.DEBIT}, TransferState.REFUSED: {Step.DEBIT},
        TransferState.CREDITING: {Step.DEBIT, Step.CREDIT},
        TransferState.CREDITED: {Step.DEBIT, Step.CREDIT},
    }.get(state, {Step.DEBIT, Step.CREDIT, Step.VOID})
    if issued != expected:
        raise IllegalTransition(f"a {state} transfer has the steps {sorted(issued)}")
    decided = {step: outcome.state for step, outcome in steps.items()}
    must: dict[Step, str] = {
        TransferState.DEBITED: {Step.DEBIT: "done"},
        TransferState.CREDITING: {Step.DEBIT: "done"},
        TransferState.REFUSED: {Step.DEBIT: "refused"},
        TransferState.CREDITED: {Step.DEBIT: "done", Step.CREDIT: "done"},
        TransferState.VOIDING: {Step.DEBIT: "done", Step.CREDIT: "refused"},
        TransferState.VOIDED: {Step.DEBIT: "done", Step.CREDIT: "refused", Step.VOID: "done"},
        TransferState.STUCK: {Step.DEBIT: "done", Step.CREDIT: "refused",
                              Step.VOID: "refused"},
    }.get(state, {})
    for step, step_state in must.items():
        if decided[step] != step_state:
            raise IllegalTransition(f"a {state} transfer's {step} is {decided[step]}")


def _entering(state: TransferState) -> Move:
    return Move(state, WRITES[state])
