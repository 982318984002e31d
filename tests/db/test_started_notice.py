"""A `jifen` command that had to start the embedded PostgreSQL says so on stderr, with how to
stop it; one that found it running says nothing, and `jifen db stop` stops it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from database import EmbeddedPostgres

# initdb and a start on a loaded 2-core box: seconds; the import of the CLI: about one.
COMMAND_TIMEOUT_S = 120.0


def jifen(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "JIFEN_DATABASE_URL"}
    env.pop("JIFEN_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "jifen.cli", "--config", str(config), *args],
                          env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                          check=False)


@pytest.mark.timeout(4 * COMMAND_TIMEOUT_S)
def test_a_command_that_starts_the_server_says_so_and_how_to_stop_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    config = tmp_path / "jifen.toml"
    config.write_text(f'[database]\ndata_dir = "{data_dir}"\n')
    server = EmbeddedPostgres(data_dir)
    try:
        first = jifen(config, "db", "url")
        assert first.returncode == 0, first.stderr
        assert first.stderr == (
            f"jifen: note: started the embedded PostgreSQL server on {data_dir}; it keeps "
            f"running for the next command. Stop it with `jifen --config {config} db stop`.\n")
        assert server.is_running()

        again = jifen(config, "db", "url")   # found it running: nothing to say
        assert (again.returncode, again.stderr) == (0, "")

        stopped = jifen(config, "db", "stop")
        assert (stopped.returncode, stopped.stdout, stopped.stderr) == (0, "stopped\n", "")
        assert not server.is_running()
    finally:
        server.stop()


def test_a_command_that_fails_after_starting_it_still_says_so(tmp_path: Path) -> None:
    """`jifen merchant list` on a database without the schema: refused, and the note."""
    data_dir = tmp_path / "pg"
    config = tmp_path / "jifen.toml"
    config.write_text(f'[database]\ndata_dir = "{data_dir}"\n')
    server = EmbeddedPostgres(data_dir)
    try:
        listed = jifen(config, "merchant", "list")
        assert listed.returncode != 0
        assert "jifen: note: started the embedded PostgreSQL server" in listed.stderr
        assert "db stop`." in listed.stderr
    finally:
        server.stop()
