"""The crash test's short form (loadtest.crash, issue 8): three SIGKILLs under load, drawn from
host, switch, front and PostgreSQL, then every approval the terminals received must be in the
journal exactly once, every request without one absent or reversed, and `jifen audit` clean.

The terminals reverse only what got no answer, as a POS does: a request answered 91 whose
posting stands must be reversed by the front's store-and-forward.

It runs its own embedded PostgreSQL (it is killed) under var/, removed afterwards. The kill
plan and the load come from a random seed, printed on failure: rerun it with
`python -m loadtest.crash --kills 3 --seed SEED` and the rates below.
"""

from __future__ import annotations

import os
import random
import shutil

import pytest

from loadtest.crash import CrashOptions, render, run_crash
from tests.conftest import REPO_DIR

# A modest load: the box runs other tests meanwhile, and a kill needs requests in flight, not
# throughput. Timeouts are the field's order (terminal > front), only shorter.
SHORT_FORM = dict(
    kills=3, terminals=4, cards=50, rate_per_s=60.0, terminal_timeout_s=5.0,
    front_answer_timeout_s=2.5, load_s=(0.5, 1.5), down_s=(0.0, 0.5),
    recovered_approvals=10, recovery_timeout_s=45.0, drain_timeout_s=60.0,
    settle_timeout_s=15.0,
)


@pytest.fixture
def crash_dirs():
    """A data directory and a work directory of this run's own, removed afterwards."""
    base = REPO_DIR / "var" / f"crash-test-{os.getpid()}"
    yield base / "pg", base / "work"
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.anyio
@pytest.mark.timeout(240)
async def test_three_kills_lose_nothing_and_post_nothing_twice(crash_dirs):
    data_dir, work_dir = crash_dirs
    seed = random.randrange(1_000_000)
    options = CrashOptions(seed=seed, data_dir=str(data_dir), work_dir=str(work_dir),
                           **SHORT_FORM)
    result = await run_crash(options)
    report = render(result, f"short form, seed {seed}")
    assert len(result.kills) == 3, report
    assert not result.failures, report
    assert not result.unexpected_exits, report
    assert result.journal.approvals_checked > 0, report
    assert result.journal.losses == 0, report
    assert result.journal.double_posts == 0, report
    assert result.journal.posted_without_approval == 0, report
    assert result.audit.clean, report
