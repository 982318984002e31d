"""Fixtures of the clearing tests: the `jifen` command on this test's database.

After every test that used a database, `jifen audit`'s checks run on it (as in tests/e2e):
clearing must leave the ledger as it found it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import audited_database  # noqa: F401  (an autouse fixture)
from tests.provisioning.cli_harness import Run, jifen_on


@pytest.fixture
def jifen(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Run]:
    """`jifen("clearing", "status")`: exit code and output. In an anyio test call it through
    `anyio.to_thread.run_sync`: the command runs its own event loop."""
    return jifen_on(database_url, tmp_path, monkeypatch, capsys, in_tmp_path=False)
