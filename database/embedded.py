"""A PostgreSQL server of our own, on a data directory, for when no database URL is configured.

It listens on 127.0.0.1 only, on a port chosen at first start and kept while it stays free,
and every connection proves a password (SCRAM); the passwords of its superuser and of the
services' login roles are files in `<data_dir>.secrets/` (passwords.py). A data directory made
by an earlier Jifen with trust authentication is converted at its next start: the superuser
gets a password, pg_hba.conf is rewritten and reloaded. The server is started with an
allow-listed environment (tools.py), never the caller's. It outlives the process that started
it: `jifen up`, `jifen host`
and a test run all find and reuse it. Starting, stopping and creating databases are
serialised across processes by an fcntl lock on `<data_dir>.lock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from database import ports, settings
from database.errors import EmbeddedServerError
from database.passwords import ensure_password, password_path, read_password
from database.postmaster import (
    PID_FILE_NAME,
    STATUS_READY,
    Postmaster,
    is_live_postmaster,
    is_zombie,
    pid_exists,
    read_postmaster,
    server_processes,
)
from database.roles import Role, ensure_login_sql
from database.server_user import (
    ServerUser,
    chown_tree,
    ensure_private_dir,
    grant_traverse_to_ancestors,
    server_user,
)
from database.tools import OUTPUT_TAIL_BYTES_MAX, prepare_installation, run_tool, tail

SUPERUSER = "postgres"
HOST = "127.0.0.1"
# initdb writes and fsyncs about 40 MB; a slow disk may take tens of seconds.
INITDB_TIMEOUT_S = 120.0
# A start after a crash replays up to max_wal_size (4 GB) of WAL before it accepts connections.
START_TIMEOUT_S = 300.0
# A fast stop ends with a checkpoint: up to shared_buffers (512 MB) of dirty pages to write.
STOP_TIMEOUT_S = 120.0
# Creating a database copies template1 (a few MB) and waits for its WAL flush.
PSQL_TIMEOUT_S = 60.0
# pg_ctl gets its own -t; ours only catches a pg_ctl that hangs past it.
TOOL_TIMEOUT_MARGIN_S = 10.0
# A waiter may sit behind one initdb and one start (or one stop) by another process.
LOCK_WAIT_S_MAX = INITDB_TIMEOUT_S + START_TIMEOUT_S + TOOL_TIMEOUT_MARGIN_S * 2
# Polling a lock or postmaster.pid: short against a start (~0.3 s), cheap for the CPU.
POLL_INTERVAL_S = 0.05
# After a crash of the postmaster, its backends notice and exit, and PID 1 reaps it (pg_ctl
# left it an orphan): usually within milliseconds, some seconds on a loaded box.
STALE_SERVER_WAIT_S_MAX = 30.0
# A port found free can be taken before the server binds it; then we pick another.
START_ATTEMPTS_MAX = 3
# server.log is appended to by every start; past this it moves to server.log.1 (one kept).
LOG_SIZE_BYTES_MAX = 64 * 1024 * 1024
# Where initdb writes before its files move into the data directory.
INITDB_STAGING_NAME = ".jifen-initdb"
# The superuser's password for initdb --pwfile, in the data directory for the instant of initdb.
INITDB_PASSWORD_FILE_NAME = ".jifen-initdb-password"
DATABASE_NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


# The data directories whose server this process started (and has not stopped). A command run
# by a person says, when it ends, which it leaves running (`jifen`'s main): the server outlives
# the command on purpose (the next command, `jifen up` and the services share it), but never
# unknown to whoever started it.
_started_by_this_process: set[Path] = set()


def started_by_this_process() -> list[Path]:
    """The data directories whose server this process started and which still run."""
    return sorted(path for path in _started_by_this_process
                  if EmbeddedPostgres(path).is_running())


class ServerStatus(msgspec.Struct, frozen=True):
    data_dir: str
    initialised: bool
    running: bool  # accepting connections
    state: str  # "stopped", or the postmaster's own: "starting", "ready", "stopping"
    pid: int | None = None
    port: int | None = None
    dsn: str | None = None


class EmbeddedPostgres:
    """The server that owns `data_dir` (created by initdb on first start)."""

    def __init__(self, data_dir: str | os.PathLike[str],
                 wal_archive_dir: str | os.PathLike[str] | None = None) -> None:
        """With `wal_archive_dir`, the server archives its WAL there (database/backup.py);
        every process that may start the server must pass the same (archive_mode is read at
        start only)."""
        self.data_dir = Path(os.path.abspath(data_dir))
        self.wal_archive_dir = (Path(os.path.abspath(wal_archive_dir))
                                if wal_archive_dir is not None else None)
        self.lock_path = self.data_dir.with_name(self.data_dir.name + ".lock")
        self.log_path = self.data_dir / settings.LOG_FILE_NAME

    def ensure_running(self) -> str:
        """Start the server unless it runs; the DSN of its `postgres` database."""
        with self._locked():
            self._ensure_running_locked()
        return self.dsn()

    def ensure_database(self, name: str) -> str:
        """ensure_running, then create database `name` if missing; its DSN."""
        if not DATABASE_NAME_PATTERN.match(name):
            raise EmbeddedServerError(f"invalid database name {name!r}")
        with self._locked():
            self._ensure_running_locked()
            self._ensure_database_locked(name)
        return self.dsn(name)

    def ensure_login(self, role: Role, database: str) -> str:
        """ensure_database, then the role's login role with its password (made on first use);
        the DSN of `database` as that login role."""
        if not DATABASE_NAME_PATTERN.match(database):
            raise EmbeddedServerError(f"invalid database name {database!r}")
        with self._locked():
            self._ensure_running_locked()
            self._ensure_database_locked(database)
            password = ensure_password(self.data_dir, role.login)
            self._psql(ensure_login_sql(role, password))
        return self._dsn_for(self._running_port(), database, role.login, password)

    def _ensure_database_locked(self, name: str) -> None:
        sql = (
            f"SELECT 'CREATE DATABASE {name}' WHERE NOT EXISTS"
            f" (SELECT FROM pg_database WHERE datname = '{name}')\\gexec\n"
        )
        self._psql(sql)

    def _psql(self, sql: str) -> None:
        """Run SQL as the superuser; the password goes in the environment, not in argv."""
        dsn = self._dsn_for(self._running_port(), "postgres", SUPERUSER, None)
        args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn]
        run_tool("psql", args, timeout_s=PSQL_TIMEOUT_S, input_text=sql,
                 password=self._superuser_password())

    def _superuser_password(self) -> str:
        password = read_password(self.data_dir, SUPERUSER)
        if password is None:
            raise EmbeddedServerError(
                f"the superuser's password file {password_path(self.data_dir, SUPERUSER)} is"
                f" missing. Recreate the server: `jifen db stop`, then remove {self.data_dir}"
                " (its data is lost) and start again"
            )
        return password

    def stop(self) -> bool:
        """Stop the server (fast: sessions are ended, then a checkpoint); False if not running."""
        with self._locked():
            if self._live_postmaster() is None:
                return False
            user = server_user()
            if user is not None:
                # Another program may have closed a directory above since the start (pytest
                # takes o+x off /tmp/pytest-of-<user> at every session it begins).
                grant_traverse_to_ancestors(self.data_dir)
            args = ["stop", "-D", str(self.data_dir), "-m", "fast", "-w"]
            args += ["-t", str(int(STOP_TIMEOUT_S))]
            timeout_s = STOP_TIMEOUT_S + TOOL_TIMEOUT_MARGIN_S
            try:
                run_tool("pg_ctl", args, timeout_s=timeout_s, user=user)
            except EmbeddedServerError as exc:
                raise EmbeddedServerError(f"server on {self.data_dir} did not stop: {exc}") from exc
            _started_by_this_process.discard(self.data_dir)
            return True

    def is_running(self) -> bool:
        return self.status().running

    def status(self) -> ServerStatus:
        postmaster = self._live_postmaster()
        initialised = (self.data_dir / "PG_VERSION").exists()
        if postmaster is None:
            return ServerStatus(str(self.data_dir), initialised, running=False, state="stopped")
        running = postmaster.status == STATUS_READY and postmaster.port is not None
        dsn = None
        if running and postmaster.port is not None:
            dsn = self._dsn_for(postmaster.port, "postgres", SUPERUSER, None)
        return ServerStatus(
            str(self.data_dir),
            initialised,
            running=running,
            state=postmaster.status or "starting",
            pid=postmaster.pid,
            port=postmaster.port,
            dsn=dsn,
        )

    def dsn(self, database: str = "postgres") -> str:
        """The superuser's DSN, password included: for migrations and administration."""
        return self._dsn_for(self._running_port(), database, SUPERUSER,
                             self._superuser_password())

    def _running_port(self) -> int:
        status = self.status()
        if not status.running or status.port is None:
            raise EmbeddedServerError(f"no server running on {self.data_dir}")
        return status.port

    @staticmethod
    def _dsn_for(port: int, database: str, user: str, password: str | None) -> str:
        credentials = user if password is None else f"{user}:{password}"
        return f"postgresql://{credentials}@{HOST}:{port}/{database}"

    def _live_postmaster(self) -> Postmaster | None:
        postmaster = read_postmaster(self.data_dir)
        if postmaster is None or not is_live_postmaster(postmaster.pid, self.data_dir):
            return None
        return postmaster

    def _ensure_running_locked(self) -> None:
        if self._settle_postmaster() is None:
            user = server_user()
            prepare_installation(user)
            if user is not None:
                grant_traverse_to_ancestors(self.data_dir)
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb(user)
            chown_tree(self.data_dir, user)
            if self.wal_archive_dir is not None:
                ensure_private_dir(self.wal_archive_dir, user)
            self._start(user)
        if settings.hba_trusts(self.data_dir):
            self._convert_from_trust()
        self._allow_replication()
        self._superuser_password()  # a server whose password we lost: say how to recover

    def _convert_from_trust(self) -> None:
        """A data directory of an earlier Jifen (initdb --auth=trust): give the superuser a
        password, then rewrite pg_hba.conf and reload. In this order, so that an interruption
        leaves a directory that is converted again next time."""
        password = ensure_password(self.data_dir, SUPERUSER)
        dsn = self._dsn_for(self._running_port(), "postgres", SUPERUSER, None)
        args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn]
        sql = (
            "SET password_encryption = 'scram-sha-256';\n"
            f"ALTER ROLE {SUPERUSER} PASSWORD '{password}';\n"
        )
        try:
            run_tool("psql", args, timeout_s=PSQL_TIMEOUT_S, input_text=sql)
        except EmbeddedServerError as exc:
            raise EmbeddedServerError(
                f"cannot convert {self.data_dir} from trust to password authentication:"
                f" {exc}\nRecreate it: `jifen db stop`, then remove {self.data_dir}"
            ) from exc
        self._rewrite_hba()

    def _rewrite_hba(self) -> None:
        """Today's pg_hba.conf in place of the file there (same owner, 0600), then a reload."""
        hba_path = self.data_dir / settings.HBA_FILE_NAME
        staged = hba_path.with_name(hba_path.name + ".jifen-new")
        staged.write_text(settings.HBA_CONTENT, encoding="utf-8")
        staged.chmod(0o600)
        owner = hba_path.stat()
        os.chown(staged, owner.st_uid, owner.st_gid)
        os.replace(staged, hba_path)
        self._psql("SELECT pg_reload_conf();\n")

    def _allow_replication(self) -> None:
        """A pg_hba.conf written before backups gets the replication line (then a reload)."""
        hba_path = self.data_dir / settings.HBA_FILE_NAME
        try:
            if hba_path.read_text() != settings.HBA_CONTENT_BEFORE_BACKUPS:
                return
        except FileNotFoundError:
            return
        self._rewrite_hba()

    def _settle_postmaster(self) -> Postmaster | None:
        """The ready server on our data directory, after waiting out a start or a stop."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            postmaster = read_postmaster(self.data_dir)
            if postmaster is None:
                return None
            if not is_live_postmaster(postmaster.pid, self.data_dir):
                self._clear_stale_postmaster(postmaster.pid)
                return None
            if postmaster.status == STATUS_READY and postmaster.port is not None:
                return postmaster
            if time.monotonic() >= deadline:
                raise EmbeddedServerError(
                    f"server {postmaster.pid} on {self.data_dir} stayed"
                    f" {postmaster.status or 'starting'!r} for {START_TIMEOUT_S:g} s"
                )
            time.sleep(POLL_INTERVAL_S)

    def _clear_stale_postmaster(self, pid: int) -> None:
        """Make way for a start after a crash. Postgres refuses to start while the old
        postmaster's pid exists (even as an unreaped zombie) or old backends remain."""
        deadline = time.monotonic() + STALE_SERVER_WAIT_S_MAX
        while is_zombie(pid) or server_processes(self.data_dir):
            if time.monotonic() >= deadline:
                raise EmbeddedServerError(
                    f"the crashed server {pid} on {self.data_dir} has not gone away in"
                    f" {STALE_SERVER_WAIT_S_MAX:g} s: old backends still run"
                    f" ({server_processes(self.data_dir)}), or its parent does not reap"
                    " children (as PID 1 in a container, run under an init)"
                )
            time.sleep(POLL_INTERVAL_S)
        if pid_exists(pid):
            # A pid reused by an unrelated process (after a reboot). A dead pid postgres
            # handles itself, checking that no old backend still holds the shared memory the
            # file names; so only this case removes the file.
            (self.data_dir / PID_FILE_NAME).unlink(missing_ok=True)

    def _initdb(self, user: ServerUser | None) -> None:
        """Run initdb in a staging directory inside data_dir, then move its files up with
        PG_VERSION last: a killed initdb leaves no data directory that looks complete. Inside,
        not beside, so that data_dir may be a mount point."""
        staging = self.data_dir / INITDB_STAGING_NAME
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        leftovers = (INITDB_STAGING_NAME, INITDB_PASSWORD_FILE_NAME)
        if any(entry.name not in leftovers for entry in self.data_dir.iterdir()):
            raise EmbeddedServerError(
                f"{self.data_dir} is not empty and is not a PostgreSQL data directory"
            )
        self.data_dir.chmod(0o700)  # postgres refuses a data directory others can read
        shutil.rmtree(staging, ignore_errors=True)  # left by an initdb that was killed
        chown_tree(self.data_dir, user)
        staging.mkdir(mode=0o700)
        chown_tree(staging, user)
        password_file = self.data_dir / INITDB_PASSWORD_FILE_NAME
        password_file.unlink(missing_ok=True)
        descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                             | os.O_NOFOLLOW, 0o600)
        try:
            os.write(descriptor, (ensure_password(self.data_dir, SUPERUSER) + "\n").encode())
        finally:
            os.close(descriptor)
        if user is not None:
            os.chown(password_file, user.uid, user.gid)
        args = ["-D", str(staging), "--auth=scram-sha-256", "--pwfile", str(password_file)]
        args += ["--encoding=UTF8", "--locale=C", "--username", SUPERUSER, "--no-instructions"]
        try:
            run_tool("initdb", args, timeout_s=INITDB_TIMEOUT_S, user=user)
        except EmbeddedServerError as exc:
            raise EmbeddedServerError(f"initdb of {self.data_dir} failed: {exc}") from exc
        finally:
            password_file.unlink(missing_ok=True)
        # initdb's own file has replication lines and an IPv6 one we do not listen on.
        hba_path = staging / settings.HBA_FILE_NAME
        hba_path.write_text(settings.HBA_CONTENT, encoding="utf-8")
        if user is not None:
            os.chown(hba_path, user.uid, user.gid)
        with open(staging / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(settings.INCLUDE_LINE)
        entries = sorted(staging.iterdir(), key=lambda entry: entry.name == "PG_VERSION")
        for entry in entries:
            os.rename(entry, self.data_dir / entry.name)
        staging.rmdir()
        _fsync_directory(self.data_dir)

    def _start(self, user: ServerUser | None) -> None:
        tried_ports: set[int] = set()
        for attempt in range(1, START_ATTEMPTS_MAX + 1):
            port = self._choose_port(tried_ports)
            tried_ports.add(port)
            self._write_managed_conf(port, user)
            self._rotate_log()
            log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            args = ["start", "-D", str(self.data_dir), "-l", str(self.log_path), "-w"]
            args += ["-t", str(int(START_TIMEOUT_S))]
            timeout_s = START_TIMEOUT_S + TOOL_TIMEOUT_MARGIN_S
            try:
                run_tool("pg_ctl", args, timeout_s=timeout_s, user=user)
                _started_by_this_process.add(self.data_dir)
                return
            except EmbeddedServerError as exc:
                log_tail = self._log_tail(log_offset)
                if "could not bind" in log_tail and attempt < START_ATTEMPTS_MAX:
                    continue
                raise EmbeddedServerError(
                    f"server on {self.data_dir} did not start: {exc}\n"
                    f"--- {self.log_path} ---\n{log_tail}"
                ) from exc

    def _choose_port(self, tried_ports: set[int]) -> int:
        """The last start's port if it is still free, else one the kernel says is free."""
        last_port = settings.read_managed_port(self.data_dir)
        if last_port is not None and last_port not in tried_ports and _port_is_free(last_port):
            return last_port
        return ports.free_port()  # below the ephemeral range: kept free while it restarts

    def _write_managed_conf(self, port: int, user: ServerUser | None) -> None:
        path = self.data_dir / settings.MANAGED_CONF_NAME
        text = settings.render_managed_conf(self.data_dir, port, self.wal_archive_dir)
        path.write_text(text, encoding="utf-8")
        if user is not None:
            os.chown(path, user.uid, user.gid)

    def _rotate_log(self) -> None:
        if self.log_path.exists() and self.log_path.stat().st_size > LOG_SIZE_BYTES_MAX:
            os.replace(self.log_path, self.log_path.with_name(self.log_path.name + ".1"))

    def _log_tail(self, offset: int) -> str:
        """What the server logged since `offset` (this start attempt), at most a few KB."""
        try:
            with open(self.log_path, "rb") as log:
                size = log.seek(0, os.SEEK_END)
                log.seek(max(offset, size - OUTPUT_TAIL_BYTES_MAX))
                return tail(log.read().decode(errors="replace")) or "(nothing logged)"
        except FileNotFoundError:
            return "(no log file)"

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the data directory's lock: no other process starts or stops the server (nor
        initialises the directory) meanwhile. Not reentrant: call none of the methods above
        inside it."""
        return self._locked()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the data directory's lock file, waiting at most LOCK_WAIT_S_MAX."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + LOCK_WAIT_S_MAX
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise EmbeddedServerError(
                            f"{self.lock_path} still locked after {LOCK_WAIT_S_MAX:g} s"
                        ) from None
                    time.sleep(POLL_INTERVAL_S)
            yield
        finally:
            os.close(descriptor)  # releases the lock


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As postgres does: a TIME_WAIT left by the last run must not count as busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
