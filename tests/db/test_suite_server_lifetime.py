"""The test suite's embedded PostgreSQL is not left running behind a person's back
(tests/conftest.py): a session that started it stops it at its end, unless
$JIFEN_TEST_KEEP_DB=1 asks to keep it, or it was running already when the session began.

Each case runs a small pytest session of its own (one test that takes a database) on a data
directory of this test's ($JIFEN_TEST_PG_DIR), never on var/test-pg, which this session uses.
The data directory is under var/, not the temporary directory: every pytest session that
begins (the inner ones, any other run on the machine) removes all but the last three of
/tmp/pytest-of-<user>'s directories, with a running server's files in them. The inner
sessions get a --basetemp of their own for the same reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from database import EmbeddedPostgres
from tests.conftest import KEEP_DB_VARIABLE, REPO_DIR

# One test that takes a fresh migrated database: the whole path of the session's server.
INNER_TEST = "tests/db/test_migrate.py"
INNER_SELECTION = "test_up_to_date"
# initdb, a start, the template's migrations and a stop, on a loaded 2-core box.
INNER_SESSION_TIMEOUT_S = 150.0


def run_session(data_dir: Path, basetemp: Path, **extra_env: str) -> None:
    env = {key: value for key, value in os.environ.items()
           if key not in ("JIFEN_DATABASE_URL", KEEP_DB_VARIABLE)}
    env.update(JIFEN_TEST_PG_DIR=str(data_dir), **extra_env)
    result = subprocess.run(
        # One pytest-xdist worker: the suite's own way (a controller that runs no test owns
        # the server's lifetime, a worker uses it), without a second worker's start-up.
        [sys.executable, "-m", "pytest", "-q", "-x", "-n", "1", f"--basetemp={basetemp}",
         INNER_TEST, "-k", INNER_SELECTION],
        cwd=REPO_DIR, env=env, capture_output=True, text=True,
        timeout=INNER_SESSION_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout, result.stdout[-3000:]


@pytest.mark.timeout(3 * INNER_SESSION_TIMEOUT_S)
def test_the_session_stops_what_it_started_and_keeps_it_when_asked(tmp_path: Path) -> None:
    data_dir = REPO_DIR / "var" / f"test-lifetime-pg-{os.getpid()}"
    server = EmbeddedPostgres(data_dir)
    try:
        run_session(data_dir, tmp_path / "first")
        assert (data_dir / "PG_VERSION").exists(), "the session ran its own server"
        assert not server.is_running(), "the session that started it stopped it"

        run_session(data_dir, tmp_path / "kept", **{KEEP_DB_VARIABLE: "1"})
        assert server.is_running(), f"{KEEP_DB_VARIABLE}=1 keeps it"

        run_session(data_dir, tmp_path / "found")
        assert server.is_running(), "a server running when the session began is left alone"
    finally:
        server.stop()
        for suffix in ("", ".secrets", ".lock"):
            path = data_dir.with_name(data_dir.name + suffix)
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
