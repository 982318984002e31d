"""The system the crash test kills: an embedded PostgreSQL on a data directory of its own, and
host, switch and front as child processes (`python -m jifen.cli <service>`, as `jifen up` runs
them), so that a SIGKILL is a real process death.

It also stops a service gracefully (`terminate`: SIGTERM, which drains it) for the rolling
restart test (tests/crash/test_graceful_restart.py), and can run on a database of a server it
did not start (`use_database`).

The test restarts what it killed, as a supervisor would; everything else must recover on its
own: after PostgreSQL restarts, the host reconnects and rebuilds its state, and the front and
switch reopen their database connections; after a service restarts, its peers reopen their
links. A service that dies without being killed is counted, restarted, and fails the run.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from pathlib import Path

import anyio
import anyio.to_thread

from database import EmbeddedPostgres, connect, fresh_database
from loadtest.errors import SetupError
from loadtest.services import Sections, SystemPorts, apply_overrides, system_sections, write_config
from runtime.supervisor import Child, ChildStartError, stop_child, wait_for_port

SERVICES = ("host", "switch", "front")          # in start order
POSTGRES = "postgres"
TARGETS = (*SERVICES, POSTGRES)
DATABASE_NAME = "jifen_crash"
# Dropping and creating the run's database, on the test's own server.
SQL_TIMEOUT_S = 60.0
# A SIGKILLed process is gone within milliseconds; a box under load may take a second or two.
EXIT_TIMEOUT_S = 30.0
# Environment the children must not inherit: they use the generated configuration's database.
_CHILD_ENV_DROPPED = ("JIFEN_DATABASE_URL", "JIFEN_CONFIG")


class CrashSystem:
    def __init__(self, data_dir: Path, work_dir: Path, overrides: list[str]) -> None:
        self.postgres = EmbeddedPostgres(data_dir)
        self.work_dir = work_dir
        self.config_path = work_dir / "crash.toml"
        self.log_dir = work_dir / "logs"
        self.database_url = ""
        self.ports = SystemPorts.free()
        self.unexpected_exits: list[str] = []
        self._overrides = overrides
        self._children: dict[str, Child] = {}
        self._server_url = ""
        self._env = {name: value for name, value in os.environ.items()
                     if name not in _CHILD_ENV_DROPPED}

    @property
    def front(self) -> tuple[str, int]:
        return ("127.0.0.1", self.ports.front)

    async def start_database(self) -> str:
        """Start the server, make a fresh migrated database for this run; its URL."""
        self._server_url = await anyio.to_thread.run_sync(self.postgres.ensure_running)
        self.database_url = await fresh_database(self._server_url, DATABASE_NAME)
        return self.database_url

    def use_database(self, database_url: str) -> None:
        """Run on this (migrated) database instead of starting a server of our own."""
        self.database_url = database_url

    async def terminate(self, target: str, timeout_s: float) -> tuple[int | None, float]:
        """SIGTERM a service (it drains) and wait for it to exit, at most `timeout_s`; its exit
        code (None: still running, then killed) and the seconds it took."""
        process = self._children[target].process
        assert process is not None
        started = anyio.current_time()
        process.send_signal(signal.SIGTERM)
        with anyio.move_on_after(timeout_s):
            code = await process.wait()
            return code, anyio.current_time() - started
        process.kill()
        with anyio.fail_after(EXIT_TIMEOUT_S):
            await process.wait()
        return None, anyio.current_time() - started

    async def checkpoint(self) -> None:
        """A checkpoint now, as a server in its steady state has had one recently: a crash
        recovery then replays the run's WAL, not that of earlier runs on this data directory."""
        with anyio.fail_after(SQL_TIMEOUT_S):
            connection = await connect(self._server_url, SQL_TIMEOUT_S)
            try:
                await connection.execute("CHECKPOINT")
            finally:
                await connection.close()

    async def start_services(self, sections: Sections) -> None:
        sections = apply_overrides(sections, list(self._overrides))
        write_config(self.config_path, sections)
        for name in SERVICES:
            await self._start(name)

    def sections(self, front_answer_timeout_s: float) -> Sections:
        sections = system_sections(self.database_url, self.ports)
        sections["front"]["answer_timeout_s"] = front_answer_timeout_s
        return sections

    async def kill(self, target: str) -> None:
        """SIGKILL the target and wait until it is gone."""
        if target == POSTGRES:
            await self._kill_postgres()
            return
        process = self._children[target].process
        assert process is not None
        process.send_signal(signal.SIGKILL)
        with anyio.fail_after(EXIT_TIMEOUT_S):
            await process.wait()

    async def restart(self, target: str) -> None:
        if target == POSTGRES:
            url = await anyio.to_thread.run_sync(self.postgres.ensure_running)
            if url != self._server_url:
                raise SetupError(f"PostgreSQL came back as {url}, not {self._server_url}: "
                                 "its port was taken meanwhile")
            return
        await self._start(target)

    async def restart_unexpected_exits(self) -> list[str]:
        """Services that died without being killed: recorded, and started again."""
        dead = [name for name, child in self._children.items()
                if child.process is not None and child.process.returncode is not None]
        for name in dead:
            self.unexpected_exits.append(name)
            await self._start(name)
        return dead

    async def stop(self, stop_postgres: bool) -> None:
        with anyio.CancelScope(shield=True):
            for name in reversed(SERVICES):
                child = self._children.pop(name, None)
                if child is not None:
                    await stop_child(child)
            if stop_postgres:
                await anyio.to_thread.run_sync(self.postgres.stop)

    async def _start(self, name: str) -> None:
        port = getattr(self.ports, name)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        command = [sys.executable, "-m", "jifen.cli", "--config", str(self.config_path), name]
        child = Child(name, port)
        with open(log_path, "ab") as log:
            child.process = await anyio.open_process(command, stdout=log, stderr=log,
                                                     env=self._env)
        self._children[name] = child
        try:
            await wait_for_port(child)
        except ChildStartError as exc:
            raise SetupError(f"{exc}; see {log_path}") from exc

    async def _kill_postgres(self) -> None:
        pid = self.postgres.status().pid
        if pid is None:
            raise SetupError(f"no PostgreSQL runs on {self.postgres.data_dir} to kill")
        exited = os.pidfd_open(pid)   # readable once the postmaster has exited
        try:
            os.kill(pid, signal.SIGKILL)
            ready: tuple[list[int], list[int], list[int]] = await anyio.to_thread.run_sync(
                select.select, [exited], [], [], EXIT_TIMEOUT_S)
            if not ready[0]:
                raise SetupError(f"PostgreSQL {pid} did not exit within {EXIT_TIMEOUT_S:g} s "
                                 "of SIGKILL")
        finally:
            os.close(exited)
