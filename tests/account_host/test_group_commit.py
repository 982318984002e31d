"""The group commit's state machine, without a database: the writer's schedules go through, and
any transition the table does not allow, or an invariant that does not hold, is an
AssertionError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from account_host.group_commit import NEXT_STAGES, GroupCommit, Pipeline, Stage


def _loaded() -> Pipeline:
    pipeline = Pipeline()
    pipeline.loaded()
    return pipeline


def _opened(pipeline: Pipeline, requests: int = 2) -> GroupCommit:
    commit = pipeline.open()
    commit.take(requests)
    return commit


def _sent(pipeline: Pipeline, requests: int = 2) -> GroupCommit:
    commit = _opened(pipeline, requests)
    commit.send()
    return commit


class TestSchedules:
    def test_a_batch_commits_then_is_answered(self) -> None:
        pipeline = _loaded()
        commit = _sent(pipeline, 3)
        commit.committed()
        commit.answered(3)
        assert commit.stage is Stage.ANSWERED
        assert pipeline.committing is None

    def test_the_successor_is_sent_the_moment_the_first_commits(self) -> None:
        pipeline = _loaded()
        first = _sent(pipeline)
        second = _opened(pipeline)
        second.take(1)   # what arrives while the first commits
        first.committed()
        second.send()
        first.answered(2)
        second.committed()
        second.answered(3)
        assert pipeline.committed_last == second.sequence

    def test_a_failed_batch_is_resolved_after_the_reload_and_its_successor_abandoned(
        self,
    ) -> None:
        pipeline = _loaded()
        failed = _sent(pipeline)
        on_top = _opened(pipeline)
        failed.failed()
        assert pipeline.committing is failed, "it may still land until it is fenced off"
        pipeline.loaded()
        failed.resolved(landed=False)
        failed.answered(2)
        on_top.abandoned()
        again = _sent(pipeline)
        again.committed()
        assert again.sequence > on_top.sequence

    def test_a_failed_batch_that_landed_counts_as_committed(self) -> None:
        pipeline = _loaded()
        commit = _sent(pipeline)
        commit.failed()
        pipeline.loaded()
        commit.resolved(landed=True)
        assert pipeline.committed_last == commit.sequence

    def test_a_batch_with_nothing_to_write_is_answered_once_nothing_is_in_flight(
        self,
    ) -> None:
        pipeline = _loaded()
        first = _sent(pipeline)
        empty = _opened(pipeline)
        with pytest.raises(AssertionError, match="may not commit"):
            empty.nothing_to_write()
        first.committed()
        empty.nothing_to_write()
        empty.answered(2)

    def test_batches_under_way_are_those_neither_answered_nor_abandoned(self) -> None:
        """What a drain waits for before it stops the writer."""
        pipeline = _loaded()
        failed = _sent(pipeline)
        on_top = _opened(pipeline)
        assert pipeline.batches_under_way == 2
        failed.failed()
        pipeline.loaded()
        failed.resolved(landed=False)
        failed.answered(2)
        on_top.abandoned()
        assert pipeline.batches_under_way == 0
        again = _sent(pipeline)
        assert pipeline.batches_under_way == 1
        again.committed()
        assert pipeline.batches_under_way == 1, "committed, not yet answered"
        again.answered(2)
        assert pipeline.batches_under_way == 0


class TestInvariants:
    def test_at_most_one_statement_in_flight(self) -> None:
        pipeline = _loaded()
        _sent(pipeline)
        with pytest.raises(AssertionError, match="sent while"):
            _sent(pipeline)

    def test_a_failed_statement_keeps_the_slot_until_resolved(self) -> None:
        pipeline = _loaded()
        _sent(pipeline).failed()
        with pytest.raises(AssertionError, match="sent while"):
            _sent(pipeline)

    def test_statements_are_sent_in_order(self) -> None:
        pipeline = _loaded()
        older, newer = _opened(pipeline), _opened(pipeline)
        newer.send()
        newer.committed()
        with pytest.raises(AssertionError, match="out of order"):
            older.send()

    def test_nothing_joins_a_batch_whose_statement_was_sent(self) -> None:
        commit = _sent(_loaded())
        with pytest.raises(AssertionError, match="took requests"):
            commit.take(1)

    def test_no_answer_before_the_commit(self) -> None:
        commit = _sent(_loaded())
        with pytest.raises(AssertionError, match="cannot become ANSWERED"):
            commit.answered(2)
        commit.failed()
        with pytest.raises(AssertionError, match="cannot become ANSWERED"):
            commit.answered(2)

    def test_a_batch_is_answered_once_with_an_answer_for_each_request(self) -> None:
        commit = _sent(_loaded(), 2)
        commit.committed()
        with pytest.raises(AssertionError, match="took 2, answers 1"):
            commit.answered(1)
        commit.answered(2)
        with pytest.raises(AssertionError, match="cannot become ANSWERED"):
            commit.answered(2)

    def test_a_batch_on_a_thrown_away_state_is_neither_sent_nor_answered(self) -> None:
        pipeline = _loaded()
        stale = _opened(pipeline)
        pipeline.loaded()
        with pytest.raises(AssertionError, match="thrown away"):
            stale.send()
        with pytest.raises(AssertionError, match="thrown away"):
            stale.nothing_to_write()
        stale.abandoned()
        with pytest.raises(AssertionError, match="cannot become"):
            stale.abandoned()

    def test_a_batch_on_the_current_state_is_not_abandoned(self) -> None:
        with pytest.raises(AssertionError, match="still holds"):
            _opened(_loaded()).abandoned()

    def test_a_failure_is_resolved_only_after_the_reload(self) -> None:
        commit = _sent(_loaded())
        commit.failed()
        with pytest.raises(AssertionError, match="before the state was reloaded"):
            commit.resolved(landed=False)

    def test_nothing_is_applied_before_the_state_is_loaded(self) -> None:
        with pytest.raises(AssertionError, match="loaded"):
            Pipeline().open()


@given(st.lists(st.sampled_from(list(Stage)), max_size=12))
def test_only_the_table_s_transitions_happen(targets: list[Stage]) -> None:
    """Any sequence of attempted moves: each happens if and only if the table allows it, and a
    refused one is an AssertionError that leaves the stage as it was."""
    commit = _loaded().open()
    for target in targets:
        before = commit.stage
        if target in NEXT_STAGES[before]:
            commit._move(target)
            assert commit.stage is target
        else:
            with pytest.raises(AssertionError):
                commit._move(target)
            assert commit.stage is before


def test_the_final_stages_lead_nowhere_and_every_stage_is_in_the_table() -> None:
    assert set(NEXT_STAGES) == set(Stage)
    assert {stage for stage, targets in NEXT_STAGES.items() if not targets} == \
        {Stage.ANSWERED, Stage.ABANDONED}
