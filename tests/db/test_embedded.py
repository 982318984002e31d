"""EmbeddedPostgres against a real server in a temporary data directory (one initdb per run)."""

from __future__ import annotations

import json
import os
import pwd
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from database import EmbeddedPostgres, EmbeddedServerError, connect
from database.server_user import SERVER_USER
from jifen.cli import main

STARTERS = 3
STARTER_TIMEOUT_S = 45.0
CRASH_TIMEOUT_S = 10.0
_START_SCRIPT = (
    "import sys; from database import EmbeddedPostgres;"
    " print(EmbeddedPostgres(sys.argv[1]).ensure_running())"
)


@pytest.fixture(scope="module")
def first_start(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EmbeddedPostgres, list[str]]]:
    """A server first started by STARTERS processes at once, and the DSN each one got."""
    data_dir = tmp_path_factory.mktemp("embedded") / "pg"
    server = EmbeddedPostgres(data_dir)
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", _START_SCRIPT, str(data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(STARTERS)
    ]
    try:
        outputs = [starter.communicate(timeout=STARTER_TIMEOUT_S) for starter in starters]
        failures = [
            stderr
            for starter, (_, stderr) in zip(starters, outputs, strict=True)
            if starter.returncode
        ]
        assert not failures, "\n".join(failures)
        yield server, [stdout.strip() for stdout, _ in outputs]
    finally:
        for starter in starters:
            starter.kill()
        server.stop()


@pytest.fixture
def server(first_start: tuple[EmbeddedPostgres, list[str]]) -> EmbeddedPostgres:
    server, _ = first_start
    server.ensure_running()
    return server


@pytest.fixture
def fetch_values(run_async):
    """`fetch_values(url, query)`: the first column of each row."""

    def fetch_values(url: str, query: str) -> list[object]:
        async def fetch() -> list[object]:
            connection = await connect(url, timeout_s=10)
            try:
                return [row[0] for row in await connection.fetch(query)]
            finally:
                await connection.close()

        return run_async(fetch)

    return fetch_values


class TestLifecycle:
    def test_concurrent_first_starts_share_one_server(self, first_start):
        server, dsns = first_start
        assert len(set(dsns)) == 1
        assert dsns[0] == server.dsn()
        assert dsns[0].startswith("postgresql://postgres:")
        assert "@127.0.0.1:" in dsns[0]

    def test_a_running_server_is_reused(self, server):
        before = server.status()
        assert server.ensure_running() == server.dsn()
        assert server.status().pid == before.pid

    def test_restart_keeps_data_and_port(self, server, execute_sql, fetch_values):
        dsn = server.dsn()
        execute_sql(dsn, "CREATE TABLE kept (id int)", "INSERT INTO kept VALUES (7)")
        assert server.stop() is True
        assert not server.is_running()
        assert server.stop() is False
        assert server.ensure_running() == dsn
        assert fetch_values(dsn, "SELECT id FROM kept") == [7]

    def test_stale_pid_file_does_not_block_a_start(self, server):
        server.stop()
        finished = subprocess.Popen(["true"])
        finished.wait()
        pid_file = server.data_dir / "postmaster.pid"
        pid_file.write_text(f"{finished.pid}\n{server.data_dir}\n0\n5432\n\n127.0.0.1\n\nready\n")
        assert not server.is_running()
        server.ensure_running()
        assert server.status().pid != finished.pid

    def test_pid_file_naming_another_process_does_not_block_a_start(self, server):
        server.stop()
        pid_file = server.data_dir / "postmaster.pid"
        pid_file.write_text(f"{os.getpid()}\n{server.data_dir}\n0\n5432\n\n127.0.0.1\n\nready\n")
        assert not server.is_running()
        server.ensure_running()
        assert server.is_running()

    def test_committed_rows_survive_a_crash(self, server, execute_sql, fetch_values):
        dsn = server.dsn()
        execute_sql(dsn, "CREATE TABLE durable (id int)", "INSERT INTO durable VALUES (1)")
        pid = server.status().pid
        exited = os.pidfd_open(pid)  # readable once the process has exited
        try:
            os.kill(pid, signal.SIGKILL)
            assert select.select([exited], [], [], CRASH_TIMEOUT_S)[0] == [exited]
        finally:
            os.close(exited)
        assert not server.is_running()
        assert server.ensure_running() == dsn
        assert fetch_values(dsn, "SELECT id FROM durable") == [1]


class TestServer:
    def test_settings_are_applied(self, server, fetch_values):
        expected = {
            "fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
            "shared_buffers": "512MB", "wal_buffers": "16MB", "max_connections": "200",
            "checkpoint_timeout": "15min", "max_wal_size": "4GB",
            "listen_addresses": "127.0.0.1", "port": str(server.status().port),
        }
        names = ", ".join(f"'{name}'" for name in expected)
        query = f"SELECT current_setting(name) FROM unnest(ARRAY[{names}]) AS name"
        assert fetch_values(server.dsn(), query) == list(expected.values())

    @pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
    def test_as_root_the_server_runs_as_its_own_user(self, server):
        status_lines = Path(f"/proc/{server.status().pid}/status").read_text().splitlines()
        uid_line = next(line for line in status_lines if line.startswith("Uid:"))
        assert int(uid_line.split()[1]) == pwd.getpwnam(SERVER_USER).pw_uid

    def test_ensure_database_creates_it_once(self, server, fetch_values):
        url = server.ensure_database("jifen_embedded_test")
        assert server.ensure_database("jifen_embedded_test") == url
        assert fetch_values(url, "SELECT current_database()") == ["jifen_embedded_test"]

    def test_invalid_database_name_is_refused(self, server):
        with pytest.raises(EmbeddedServerError, match="invalid database name"):
            server.ensure_database("x; DROP DATABASE postgres")

    def test_foreign_directory_is_not_initialised(self, tmp_path):
        (tmp_path / "pg").mkdir()
        (tmp_path / "pg" / "precious.txt").write_text("mine")
        with pytest.raises(EmbeddedServerError, match="not empty"):
            EmbeddedPostgres(tmp_path / "pg").ensure_running()


def write_config(tmp_path: Path, data_dir: Path) -> Path:
    path = tmp_path / "jifen.toml"
    path.write_text(f'[database]\ndata_dir = "{data_dir}"\n')
    return path


class TestStatusCommand:
    def test_running_server_as_json(self, server, tmp_path, capsys):
        config = write_config(tmp_path, server.data_dir)
        assert main(["--config", str(config), "db", "status", "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["running"] is True
        assert status["state"] == "ready"
        assert status["port"] == server.status().port
        assert status["data_dir"] == str(server.data_dir)
        # The status names the server, not its password.
        assert status["dsn"] == f"postgresql://postgres@127.0.0.1:{status['port']}/postgres"

    def test_missing_server_exits_1(self, tmp_path, capsys):
        config = write_config(tmp_path, tmp_path / "nothing-here")
        assert main(["--config", str(config), "db", "status", "--json"]) == 1
        status = json.loads(capsys.readouterr().out)
        assert status["running"] is False
        assert status["initialised"] is False
        assert status["dsn"] is None
