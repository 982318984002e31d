"""The group commit as a state machine: one batch's way from being applied to being answered,
and the order of all batches through the one statement slot. Sans-I/O (h11's `_state.py`): the
writer (writer.py) does the waiting and calls a transition at each step; a transition the table
does not allow, or an invariant that does not hold, is an AssertionError, which ends the host
process. The supervisor restarts it, and it rebuilds its state from the database: a host that
runs on with a broken invariant could answer 00 for what it never wrote, or 96 for what it did.

    OPEN ──send──▶ COMMITTING ──committed──▶ COMMITTED ──answered──▶ ANSWERED
     │ │               │                        ▲
     │ │               └─failed─▶ FAILED ─resolved─▶ RESOLVED ──answered──▶ ANSWERED
     │ └──nothing_to_write──────────────────────┘
     └──abandoned──▶ ABANDONED   (applied on a state since thrown away: applied again, anew)

What each transition asserts, and why it matters:
- At most one statement in flight (`send`): batches are applied on top of each other, so the
  database must see them in the order they were applied. The slot stays taken while a failed
  statement is FAILED: until its connection is fenced off it may still land.
- Commits in order: each batch gets the next sequence number when it opens; a statement is sent
  only above the last one sent, and a batch commits only above the last one committed.
- Answers only after their commit (`answered`): from COMMITTED (its statement committed, or it
  wrote nothing and no statement was in flight beneath it) or RESOLVED (fenced, then found
  landed or not), never from OPEN, COMMITTING or FAILED.
- Every request answered exactly once: a batch counts the requests it takes (only while OPEN,
  so nothing joins a statement already sent), `answered` checks the count, and ANSWERED and
  ABANDONED are final (an abandoned batch's requests are taken by a new batch).
- Nothing applied on a thrown-away state goes out: each batch carries the epoch (the count of
  state loads) it was applied on; a stale batch can only be abandoned.

Every check is O(1) per batch (or per addition to one): none loops over its requests.
"""

from __future__ import annotations

import enum


class Stage(enum.Enum):
    OPEN = "open"                # the writer applies requests to it
    COMMITTING = "committing"    # its statement is the one in flight
    COMMITTED = "committed"      # durable (or wrote nothing on durable ground): may be answered
    FAILED = "failed"            # its statement failed or timed out: it may still have landed
    RESOLVED = "resolved"        # fenced and reloaded: it landed (real answers) or not (96)
    ABANDONED = "abandoned"      # applied on a state thrown away; its requests go to a new one
    ANSWERED = "answered"        # every request answered, once


# The allowed transitions; anything else is a bug.
NEXT_STAGES: dict[Stage, frozenset[Stage]] = {
    Stage.OPEN: frozenset({Stage.COMMITTING, Stage.COMMITTED, Stage.ABANDONED}),
    Stage.COMMITTING: frozenset({Stage.COMMITTED, Stage.FAILED}),
    Stage.COMMITTED: frozenset({Stage.ANSWERED}),
    Stage.FAILED: frozenset({Stage.RESOLVED}),
    Stage.RESOLVED: frozenset({Stage.ANSWERED}),
    Stage.ABANDONED: frozenset(),
    Stage.ANSWERED: frozenset(),
}


class Pipeline:
    """What the batches share: the statement slot, the order, and the state's epoch."""

    __slots__ = ("committed_last", "committing", "epoch", "finished", "sent_last",
                 "sequence_last")

    def __init__(self) -> None:
        self.epoch = 0                # state loads so far: the state batches are applied on
        self.sequence_last = 0        # of the last batch opened
        self.sent_last = 0            # of the last statement sent
        self.committed_last = 0       # of the last statement known to have committed
        self.committing: GroupCommit | None = None   # the statement in flight
        self.finished = 0             # batches ANSWERED or ABANDONED: every other is under way

    @property
    def batches_under_way(self) -> int:
        """Batches opened and not yet answered (nor abandoned): 0 when the writer is idle."""
        return self.sequence_last - self.finished

    def loaded(self) -> None:
        """The state was (re)loaded from the database: every open batch is stale."""
        self.epoch += 1

    def open(self) -> GroupCommit:
        """A new batch, applied on the current state."""
        assert self.epoch > 0, "the state is loaded before anything is applied"
        self.sequence_last += 1
        return GroupCommit(self, self.sequence_last, self.epoch)


class GroupCommit:
    """One batch's stage; the transitions are its methods."""

    __slots__ = ("epoch", "pipeline", "requests", "sequence", "stage")

    def __init__(self, pipeline: Pipeline, sequence: int, epoch: int) -> None:
        self.pipeline = pipeline
        self.sequence = sequence
        self.epoch = epoch
        self.stage = Stage.OPEN
        self.requests = 0

    def __repr__(self) -> str:
        return f"GroupCommit({self.sequence}, {self.stage.name}, epoch={self.epoch})"

    @property
    def is_stale(self) -> bool:
        """Applied on a state that has been thrown away since (its predecessor failed)."""
        return self.epoch != self.pipeline.epoch

    def take(self, requests: int) -> None:
        """`requests` more applied to it: only while open, since rows that join a batch whose
        statement was sent would be answered but never written."""
        assert self.stage is Stage.OPEN, f"{self!r} took requests"
        self.requests += requests

    def send(self) -> None:
        """Its statement leaves: the only one in flight, and after every one sent before."""
        pipeline = self.pipeline
        assert pipeline.committing is None, f"{self!r} sent while {pipeline.committing!r} is"
        assert not self.is_stale, f"{self!r} was applied on a state thrown away"
        assert self.sequence > pipeline.sent_last, f"{self!r} sent out of order"
        assert self.requests > 0
        self._move(Stage.COMMITTING)
        pipeline.sent_last = self.sequence
        pipeline.committing = self

    def committed(self) -> None:
        """Its statement committed (with the row counts it was built with): durable."""
        self._landed()
        self._move(Stage.COMMITTED)
        self.pipeline.committing = None

    def nothing_to_write(self) -> None:
        """It writes nothing (retransmissions, 94s): its answers are as durable as what it
        was applied on, once no statement is in flight beneath it."""
        pipeline = self.pipeline
        assert pipeline.committing is None, \
            f"{self!r} answered while {pipeline.committing!r} may not commit"
        assert not self.is_stale, f"{self!r} was applied on a state thrown away"
        self._move(Stage.COMMITTED)

    def failed(self) -> None:
        """Its statement failed or timed out. It keeps the slot: until its connection is
        fenced off, it may still land."""
        assert self.pipeline.committing is self
        self._move(Stage.FAILED)

    def resolved(self, *, landed: bool) -> None:
        """Fenced off and the state reloaded: whether it landed is now known for good."""
        assert self.is_stale, f"{self!r} resolved before the state was reloaded"
        if landed:
            self._landed()
        else:
            assert self.pipeline.committing is self
        self._move(Stage.RESOLVED)
        self.pipeline.committing = None

    def abandoned(self) -> None:
        """Applied on a state thrown away: dropped, its requests applied again in a new batch."""
        assert self.is_stale, f"{self!r} abandoned on a state that still holds"
        self._move(Stage.ABANDONED)
        self.pipeline.finished += 1

    def answered(self, answers: int) -> None:
        """Its answers go out: one for each request it took, once."""
        assert answers == self.requests, f"{self!r} took {self.requests}, answers {answers}"
        self._move(Stage.ANSWERED)
        self.pipeline.finished += 1

    def _landed(self) -> None:
        pipeline = self.pipeline
        assert pipeline.committing is self, f"{self!r} committed, not in flight"
        assert self.sequence > pipeline.committed_last, f"{self!r} committed out of order"
        pipeline.committed_last = self.sequence

    def _move(self, stage: Stage) -> None:
        assert stage in NEXT_STAGES[self.stage], f"{self!r} cannot become {stage.name}"
        self.stage = stage
