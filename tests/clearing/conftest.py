"""Fixtures of the clearing tests: the `jifen` command on this test's database.

After every test that used a database, `jifen audit`'s checks run on it (as in tests/e2e):
clearing must leave the ledger as it found it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from jifen.cli import main
from tests.e2e.conftest import audited_database  # noqa: F401  (an autouse fixture)
from tests.provisioning.cli_harness import TEST_KEK_HEX, Run


@pytest.fixture
def jifen(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Run]:
    """`jifen("clearing", "status")`: exit code and output. In an anyio test call it through
    `anyio.to_thread.run_sync`: the command runs its own event loop."""
    config = tmp_path / "jifen.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n')
    monkeypatch.delenv("JIFEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("JIFEN_KEK", TEST_KEK_HEX)

    def run(*argv: str) -> Run:
        capsys.readouterr()
        exit_code = main(["--config", str(config), *argv])
        captured = capsys.readouterr()
        return Run(exit_code, captured.out, captured.err)

    return run
