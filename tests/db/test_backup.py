"""Backup and restore of the embedded server (database/backup.py; docs/reliability.md, "Backup
and restore"): the restore drill on a server of its own, the archive settings, the refusals."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import anyio
import asyncpg
import pytest

from back_office.data_migrations import publish_front_key
from back_office.ledger_check import audit_database
from database import EmbeddedPostgres, migrate
from database.backup import (
    Backup,
    choose_backup,
    list_backups,
    restore,
    take_backup,
    wal_archive_dir,
)
from database.errors import BackupError
from database.passwords import secrets_dir
from database.settings import HBA_CONTENT_BEFORE_BACKUPS, HBA_FILE_NAME, archive_settings
from devices.terminal_client import TerminalClient
from jifen.cli import main
from proto.keys import load_kek
from tests.e2e.system import CARDS, MERCHANT, TERMINAL, running_system

pytestmark = pytest.mark.anyio

# Purchases per round of load: enough to span several group commits, quick on a busy box.
PURCHASES_PER_ROUND = 15
# A base backup or a restore of this small cluster takes 1-2 s; a loaded box may take ten.
BACKUP_TIMEOUT_S = 60.0
# The archiver copies a switched segment within a second; it retries failures every minute.
ARCHIVED_WAIT_S = 30.0
POLL_S = 0.05
# The postmaster's backends exit within milliseconds of its death; a loaded box takes longer.
CRASH_WAIT_S = 10.0
AUDIT_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedPostgres, Path]]:
    """A server of its own that archives its WAL, and its backup directory."""
    root = tmp_path_factory.mktemp("backup")
    backup_dir = root / "backups"
    server = EmbeddedPostgres(root / "pg", wal_archive_dir(backup_dir))
    server.ensure_running()
    try:
        yield server, backup_dir
    finally:
        server.stop()


async def purchases(url: str, count: int, amount_fen: int, round_number: int) -> list[str]:
    """`count` purchases by one terminal through the whole system; the RRNs (field 37) of the
    approvals it got. Each round counts its STANs from its own start: a STAN used again by
    the terminal would be a retransmission."""
    approved = []
    async with running_system(url, seeded=False) as system, TerminalClient(
        "127.0.0.1", system.front_port, TERMINAL, MERCHANT, stan_start=round_number * 100 + 1,
    ) as terminal:
        assert (await terminal.sign_on())["39"] == "00"
        for index in range(count):
            answer = await terminal.purchase(CARDS[index % len(CARDS)], amount_fen + index)
            if answer["39"] == "00":
                approved.append(answer["37"])
    assert len(approved) == count
    return approved


async def fetch_values(url: str, query: str) -> list[object]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return [row[0] for row in await connection.fetch(query)]
    finally:
        await connection.close()


async def switch_and_await_archive(url: str) -> None:
    """Close the current WAL segment and wait until the archive has it: the recovery point."""
    segment = (await fetch_values(url, "SELECT pg_walfile_name(pg_switch_wal())"))[0]
    with anyio.fail_after(ARCHIVED_WAIT_S):
        while True:
            last = (await fetch_values(url, "SELECT last_archived_wal FROM pg_stat_archiver"))[0]
            if last is not None and str(last) >= str(segment):
                return
            await anyio.sleep(POLL_S)


async def crash_and_lose_disk(server: EmbeddedPostgres) -> None:
    """Kill the postmaster (no shutdown checkpoint, no last archive) and delete the data
    directory, as a disk that died under a running server."""
    pid = server.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with anyio.fail_after(CRASH_WAIT_S):
        while server.status().pid is not None:
            await anyio.sleep(POLL_S)
    shutil.rmtree(server.data_dir)
    shutil.rmtree(secrets_dir(server.data_dir))  # beside it, on the same disk


async def test_restore_drill_after_a_lost_disk(backed_up):
    """Load, backup, load, recovery point, load, crash and lost disk, restore to latest:
    every approval up to the recovery point is in the journal, and the audit passes."""
    server, backup_dir = backed_up
    url = server.ensure_database("jifen")
    await migrate(url)
    await publish_front_key(url, load_kek())
    async with running_system(url):  # seeds the alliance, its shops and cards
        pass
    before_backup = await purchases(url, PURCHASES_PER_ROUND, 1_000, 1)
    with anyio.fail_after(BACKUP_TIMEOUT_S):
        backup = (await anyio.to_thread.run_sync(take_backup, server, backup_dir, 2)).backup
    after_backup = await purchases(url, PURCHASES_PER_ROUND, 2_000, 2)
    await switch_and_await_archive(url)
    at_risk = await purchases(url, PURCHASES_PER_ROUND, 3_000, 3)
    await crash_and_lose_disk(server)

    with anyio.fail_after(BACKUP_TIMEOUT_S):
        result = await anyio.to_thread.run_sync(restore, server, backup_dir, None)
    assert result.backup == backup
    assert result.set_aside is None  # nothing left to set aside of a lost disk
    url = server.ensure_database("jifen")
    journal = set(await fetch_values(url, "SELECT rrn FROM transactions WHERE rrn IS NOT NULL"))
    assert set(before_backup + after_backup) <= journal
    assert journal <= set(before_backup + after_backup + at_risk)  # nothing made up
    report = await audit_database(url, timeout_s=AUDIT_TIMEOUT_S)
    assert report.clean, [violation.describe() for violation in report.violations()]
    # Writable again, archiving on the new timeline.
    assert (await fetch_values(url, "SELECT pg_is_in_recovery()")) == [False]
    assert len(await purchases(url, 3, 4_000, 4)) == 3


def test_restore_to_a_time_keeps_what_committed_before_it(backed_up, execute_sql,
                                                          run_async):
    server, backup_dir = backed_up
    url = server.ensure_database("point_in_time")
    execute_sql(url, "CREATE TABLE IF NOT EXISTS marks (n int)", "TRUNCATE marks",
                "INSERT INTO marks VALUES (1)")
    take_backup(server, backup_dir, 2)
    execute_sql(url, "INSERT INTO marks VALUES (2)")
    (target,) = run_async(fetch_values, url, "SELECT clock_timestamp()")
    execute_sql(url, "INSERT INTO marks VALUES (3)")
    result = restore(server, backup_dir, target)
    assert result.set_aside is not None and Path(result.set_aside).is_dir()  # kept, not deleted
    assert result.recovered_to is not None and result.recovered_to <= target
    url = server.ensure_database("point_in_time")
    assert run_async(fetch_values, url, "SELECT n FROM marks ORDER BY n") == [1, 2]


def test_backup_is_verified_named_by_time_and_private(backed_up):
    server, backup_dir = backed_up
    result = take_backup(server, backup_dir, 2)
    backup = result.backup
    assert result.archiving
    assert Path(backup.path) == backup_dir / "base" / backup.name
    assert (Path(backup.path) / "backup_manifest").exists()
    assert backup.started_at <= backup.ended_at
    assert list_backups(backup_dir)[-1] == backup
    for directory in (backup_dir, backup_dir / "wal", backup_dir / "base", Path(backup.path)):
        assert directory.stat().st_mode & 0o777 == 0o700


def test_backups_past_the_limit_are_removed_with_their_wal(backed_up):
    server, backup_dir = backed_up
    for _ in range(2):
        take_backup(server, backup_dir, 1)
    kept = list_backups(backup_dir)
    assert len(kept) == 1
    archived = sorted(path.name for path in wal_archive_dir(backup_dir).iterdir()
                      if len(path.name) == 24)
    assert archived and archived[0] >= kept[0].start_wal_file


class TestChooseBackup:
    def backups(self) -> list[Backup]:
        def made(hour: int) -> Backup:
            start = dt.datetime(2026, 12, 7, hour, tzinfo=dt.UTC)
            return Backup(start.strftime("%Y%m%dT%H%M%SZ"), "/nowhere", start,
                          start + dt.timedelta(minutes=5), 1, "0" * 24)
        return [made(1), made(2)]

    def test_the_newest_that_ended_before_the_target(self):
        target = dt.datetime(2026, 12, 7, 1, 30, tzinfo=dt.UTC)
        assert choose_backup(self.backups(), target, None).name == "20261207T010000Z"
        assert choose_backup(self.backups(), None, None).name == "20261207T020000Z"

    def test_no_backup(self):
        with pytest.raises(BackupError, match="jifen db backup"):
            choose_backup([], None, None)

    def test_target_before_every_backup(self):
        target = dt.datetime(2026, 12, 7, 1, 2, tzinfo=dt.UTC)
        with pytest.raises(BackupError, match="before the end of the oldest backup"):
            choose_backup(self.backups(), target, None)

    def test_target_before_the_backup_named(self):
        target = dt.datetime(2026, 12, 7, 1, 30, tzinfo=dt.UTC)
        with pytest.raises(BackupError, match="before the end of backup 20261207T020000Z"):
            choose_backup(self.backups(), target, "20261207T020000Z")
        with pytest.raises(BackupError, match="no backup named"):
            choose_backup(self.backups(), None, "20200101T000000Z")


def test_restore_is_refused_while_other_sessions_are_connected(backed_up, run_async):
    server, backup_dir = backed_up
    take_backup(server, backup_dir, 2)

    async def attempt() -> None:
        connection = await asyncpg.connect(server.dsn(), timeout=10)
        try:
            with pytest.raises(BackupError, match="other sessions are connected"):
                await anyio.to_thread.run_sync(restore, server, backup_dir, None)
        finally:
            await connection.close()

    run_async(attempt)
    assert server.is_running()


def test_archive_settings():
    assert archive_settings(None) == {"archive_mode": "off"}
    settings = archive_settings(Path("/srv/backups/wal"))
    assert settings["archive_mode"] == "on"
    assert "/srv/backups/wal/%f" in settings["archive_command"]
    with pytest.raises(ValueError, match="letters, digits"):
        archive_settings(Path("/srv/my backups/wal"))


def test_an_older_pg_hba_gets_the_replication_line(tmp_path):
    server = EmbeddedPostgres(tmp_path / "pg")
    server.ensure_running()
    try:
        hba = server.data_dir / HBA_FILE_NAME
        hba.write_text(HBA_CONTENT_BEFORE_BACKUPS)
        server.ensure_running()
        assert "host    replication  postgres  127.0.0.1/32  scram-sha-256" in hba.read_text()
        take_backup(server, tmp_path / "backups", 1)  # without archiving: a base backup only
    finally:
        server.stop()


class TestCommands:
    def test_a_configured_url_is_the_deployment_s_to_back_up(self, tmp_path, capsys,
                                                           monkeypatch):
        monkeypatch.setenv("JIFEN_DATABASE_URL", "postgresql://someone@db.example/jifen")
        config = tmp_path / "jifen.toml"
        config.write_text("")
        for command in (["db", "backup"], ["db", "restore", "--to", "latest"]):
            assert main(["--config", str(config), *command]) == 2
            error = capsys.readouterr().err
            assert "the deployment's own" in error and "docs/reliability.md" in error

    def test_restore_without_a_backup(self, tmp_path, capsys, monkeypatch):
        monkeypatch.delenv("JIFEN_DATABASE_URL", raising=False)
        config = tmp_path / "jifen.toml"
        config.write_text(f'[database]\ndata_dir = "{tmp_path / "pg"}"\n'
                          f'backup_dir = "{tmp_path / "backups"}"\n')
        assert main(["--config", str(config), "db", "restore", "--to", "latest"]) == 2
        assert "jifen db backup" in capsys.readouterr().err
        assert not (tmp_path / "pg").exists()

    def test_backup_and_restore_with_the_default_relative_paths(self, tmp_path, capsys,
                                                                monkeypatch):
        """As `jifen up`'s default configuration has them: relative to the working directory,
        while the server's archive and restore commands run in the data directory."""
        monkeypatch.delenv("JIFEN_DATABASE_URL", raising=False)
        monkeypatch.chdir(tmp_path)
        config = tmp_path / "jifen.toml"
        config.write_text('[database]\ndata_dir = "pg"\nbackup_dir = "backups"\n')
        server = EmbeddedPostgres(tmp_path / "pg", wal_archive_dir(tmp_path / "backups"))
        try:
            assert main(["--config", str(config), "db", "backup"]) == 0
            assert "verified" in capsys.readouterr().out
            assert main(["--config", str(config), "db", "restore", "--to", "latest"]) == 0
            out = capsys.readouterr().out
            assert "restored pg from base backup" in out
            assert "the previous data directory is kept at" in out
            assert server.is_running()
            assert (tmp_path / "backups" / "wal").is_dir()
        finally:
            server.stop()
