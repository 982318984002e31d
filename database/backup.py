"""Base backups and point-in-time restore of the embedded server, with PostgreSQL's own tools
(the wheel's pg_basebackup, pg_verifybackup and pg_archivecleanup, of the server's version).

The backup directory, 0700 and the server user's (docs/reliability.md, "Backup and restore"):

    <backup_dir>/wal/<segment>           every finished WAL segment (the server's archive_command)
    <backup_dir>/base/<name>/            a plain base backup with its WAL and backup_manifest
    <backup_dir>/base/<name>.secrets/    a copy of <data_dir>.secrets/: the roles' passwords
    <backup_dir>/base/<name>.json        when it began and ended: written last, once verified

A backup is named by its start time in UTC (20261207T113000Z). A restore puts the data
directory aside (never deleting it), copies a base backup in its place, and lets the server
replay the archive up to the target time or to its end, then promote and accept writes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from database.embedded import HOST, SUPERUSER, EmbeddedPostgres
from database.errors import BackupError, EmbeddedServerError
from database.passwords import read_password, secrets_dir
from database.server_user import ServerUser, chown_tree, ensure_private_dir, server_user
from database.settings import ARCHIVE_DIR_PATTERN
from database.tools import run_tool

WAL_DIR_NAME = "wal"
BASE_DIR_NAME = "base"
NAME_FORMAT = "%Y%m%dT%H%M%SZ"
NAME_PATTERN = re.compile(r"^\d{8}T\d{6}Z$")
WAL_SEGMENT_PATTERN = re.compile(r"^[0-9A-F]{24}$")
# pg_basebackup copies the whole cluster at disk speed after a fast checkpoint: 10^6 cards
# (about 1 GB) take well under a minute; an hour covers a database a hundred times larger.
BASE_BACKUP_TIMEOUT_S = 3600.0
# pg_verifybackup reads every file again and checks its SHA-256.
VERIFY_TIMEOUT_S = 3600.0
# pg_archivecleanup only unlinks files.
CLEANUP_TIMEOUT_S = 120.0
# One query of a few rows.
QUERY_TIMEOUT_S = 30.0
# Replaying the archive after the start: at disk speed, a day of WAL takes minutes.
RECOVERY_TIMEOUT_S = 3600.0
RECOVERY_POLL_S = 0.1
# Written to postgresql.auto.conf for the recovery and reset once the server has promoted.
RECOVERY_SETTINGS = ("restore_command", "recovery_target_time", "recovery_target_action",
                     "recovery_target_timeline")


class Backup(msgspec.Struct, frozen=True):
    name: str
    path: str
    started_at: dt.datetime  # just before pg_basebackup began (its name)
    ended_at: dt.datetime  # once it ended: the earliest target a restore from it may have
    size_bytes: int
    start_wal_file: str  # the oldest archived segment a restore from it needs


class BackupResult(msgspec.Struct, frozen=True):
    backup: Backup
    archiving: bool  # the running server archives WAL: restores can reach past its end
    removed: list[str]  # older backups removed (backups_kept)
    wal_files_removed: int


class RestoreResult(msgspec.Struct, frozen=True):
    backup: Backup
    target: dt.datetime | None  # None: the end of the archived WAL
    set_aside: str | None  # where the old data directory now is
    wal_files_copied: int  # unarchived segments taken from the old data directory
    recovered_to: dt.datetime | None  # the last transaction replayed
    duration_s: float


def wal_archive_dir(backup_dir: Path) -> Path:
    return backup_dir / WAL_DIR_NAME


def list_backups(backup_dir: Path) -> list[Backup]:
    """Complete, verified backups, oldest first."""
    base = backup_dir / BASE_DIR_NAME
    if not base.is_dir():
        return []
    backups = []
    for info in sorted(base.glob("*.json")):
        if NAME_PATTERN.match(info.stem) and (base / info.stem).is_dir():
            backups.append(msgspec.json.decode(info.read_bytes(), type=Backup))
    return backups


def take_backup(server: EmbeddedPostgres, backup_dir: Path, backups_kept: int) -> BackupResult:
    """A base backup of the running server (started if needed), verified; then the backups
    past `backups_kept` and the WAL only they needed are removed."""
    assert backups_kept >= 1
    backup_dir = Path(os.path.abspath(backup_dir))  # the server's commands run elsewhere
    server.ensure_running()
    user = server_user()
    base = backup_dir / BASE_DIR_NAME
    for directory in (backup_dir, base):
        ensure_private_dir(directory, user)
    started_at = _now()
    if (base / started_at.strftime(NAME_FORMAT)).exists():  # names are to the second
        time.sleep(1.0 - started_at.microsecond / 1e6)
        started_at = _now()
    name = started_at.strftime(NAME_FORMAT)
    target = base / name
    if target.exists():
        raise BackupError(f"{target} exists: one backup per second at most")
    partial = base / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    port, password = _superuser_access(server)
    args = ["-D", str(partial), "--format=plain", "--wal-method=stream",
            "--checkpoint=fast", "--manifest-checksums=SHA256", "--label", f"jifen {name}",
            "--no-password", "-d", f"host={HOST} port={port} user={SUPERUSER}"]
    try:
        run_tool("pg_basebackup", args, timeout_s=BASE_BACKUP_TIMEOUT_S, user=user,
                 password=password)
        ended_at = _now()
        run_tool("pg_verifybackup", ["--quiet", str(partial)], timeout_s=VERIFY_TIMEOUT_S,
                 user=user)
    except EmbeddedServerError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackupError(f"base backup of {server.data_dir} failed: {exc}") from exc
    backup = Backup(name=name, path=str(target), started_at=started_at, ended_at=ended_at,
                    size_bytes=_size_bytes(partial),
                    start_wal_file=_start_wal_file(partial / "backup_label"))
    _copy_secrets(secrets_dir(server.data_dir), base / f"{name}.secrets")
    _write_private(base / f"{name}.json", msgspec.json.encode(backup), user)
    os.rename(partial, target)
    archiving = _query(server, "SHOW archive_mode") == "on"
    removed, wal_removed = _prune(backup_dir, backups_kept, user)
    return BackupResult(backup, archiving, removed, wal_removed)


def _prune(backup_dir: Path, backups_kept: int, user: ServerUser | None) -> tuple[list[str], int]:
    backups = list_backups(backup_dir)
    old, kept = backups[:-backups_kept], backups[-backups_kept:]
    for backup in old:
        (backup_dir / BASE_DIR_NAME / f"{backup.name}.json").unlink()
        shutil.rmtree(backup.path)
        shutil.rmtree(f"{backup.path}.secrets", ignore_errors=True)
    archive = wal_archive_dir(backup_dir)
    if not old or not archive.is_dir():
        return [backup.name for backup in old], 0
    before = len(list(archive.iterdir()))
    run_tool("pg_archivecleanup", [str(archive), kept[0].start_wal_file],
             timeout_s=CLEANUP_TIMEOUT_S, user=user)
    return [backup.name for backup in old], before - len(list(archive.iterdir()))


def choose_backup(backups: list[Backup], target: dt.datetime | None,
                  name: str | None) -> Backup:
    """The backup named, else the newest that ended before `target` (or the newest)."""
    if not backups:
        raise BackupError("no base backup to restore from: take one with `jifen db backup`")
    if name is not None:
        chosen = next((backup for backup in backups if backup.name == name), None)
        if chosen is None:
            names = ", ".join(backup.name for backup in backups)
            raise BackupError(f"no backup named {name!r}; there are: {names}")
        if target is not None and target < chosen.ended_at:
            raise BackupError(f"target {target.isoformat()} is before the end of backup"
                              f" {name} ({chosen.ended_at.isoformat()}): choose an older"
                              " backup, or a later target")
        return chosen
    if target is None:
        return backups[-1]
    usable = [backup for backup in backups if backup.ended_at <= target]
    if not usable:
        raise BackupError(f"target {target.isoformat()} is before the end of the oldest"
                          f" backup, {backups[0].name} ({backups[0].ended_at.isoformat()}):"
                          " nothing kept reaches that far back")
    return usable[-1]


def restore(server: EmbeddedPostgres, backup_dir: Path, target: dt.datetime | None,
            backup_name: str | None = None) -> RestoreResult:
    """Stop the server, set its data directory aside, copy the backup in, replay the WAL
    archive to `target` (None: to its end), promote and start. Refused while other sessions
    are connected: the services would carry on against a database moved under them."""
    began = time.monotonic()
    backup_dir = Path(os.path.abspath(backup_dir))  # restore_command runs in the data dir
    backup = choose_backup(list_backups(backup_dir), target, backup_name)
    if server.is_running():
        _refuse_if_in_use(server)
        server.stop()
    user = server_user()
    with server.locked():
        if server.status().running:
            raise BackupError(f"the server on {server.data_dir} was started again by another"
                              " process during the restore: stop it and retry")
        set_aside = _set_aside(server.data_dir)
        _copy_backup(Path(backup.path), server.data_dir, user)
        if not secrets_dir(server.data_dir).exists():  # lost with the disk
            _copy_secrets(Path(f"{backup.path}.secrets"), secrets_dir(server.data_dir))
        copied = 0
        if target is None and set_aside is not None:
            copied = _copy_unarchived_wal(set_aside, server.data_dir,
                                          wal_archive_dir(backup_dir), user)
        _write_recovery_settings(server.data_dir, wal_archive_dir(backup_dir), target, user)
    server.ensure_running()
    recovered_to = _await_promotion(server)
    sql = "".join(f"ALTER SYSTEM RESET {setting};\n" for setting in RECOVERY_SETTINGS)
    _query(server, sql + "SELECT pg_reload_conf();")
    return RestoreResult(backup, target, str(set_aside) if set_aside else None, copied,
                         recovered_to, time.monotonic() - began)


def _refuse_if_in_use(server: EmbeddedPostgres) -> None:
    sessions = _query(server, "SELECT count(*) FROM pg_stat_activity WHERE backend_type ="
                              " 'client backend' AND pid <> pg_backend_pid()")
    if sessions != "0":
        raise BackupError(
            f"{sessions} other sessions are connected to the server on {server.data_dir}"
            " (the services of `jifen up` or systemd, a psql): stop them first, then restore"
        )


def _set_aside(data_dir: Path) -> Path | None:
    """Rename the data directory to <data_dir>.before-restore-<time>; None if it is gone or
    empty (a lost disk). Never deleted: it is the evidence, and maybe newer WAL."""
    if not data_dir.exists():
        return None
    if not any(data_dir.iterdir()):
        data_dir.rmdir()
        return None
    aside = data_dir.with_name(f"{data_dir.name}.before-restore-{_now().strftime(NAME_FORMAT)}")
    try:
        os.rename(data_dir, aside)
    except OSError as exc:
        raise BackupError(f"cannot move {data_dir} aside to {aside}: {exc} (a mount point?"
                          " move its content aside by hand, then restore)") from exc
    return aside


def _copy_backup(source: Path, data_dir: Path, user: ServerUser | None) -> None:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, data_dir, symlinks=True)
    # The unix socket's lock file lives in the data directory (settings.socket_directory) and
    # pg_basebackup copies it: left there, it names the old postmaster and blocks the start.
    leftovers = [data_dir / name for name in ("backup_manifest", "postmaster.pid",
                                              "postmaster.opts")]
    for leftover in [*leftovers, *data_dir.glob(".s.PGSQL.*")]:
        leftover.unlink(missing_ok=True)
    data_dir.chmod(0o700)  # postgres refuses a data directory others can read
    chown_tree(data_dir, user)


def _copy_secrets(source: Path, destination: Path) -> None:
    """The password files, ours and private (0700, 0600) as passwords.py keeps them, also
    inside the server user's backup directory: a restored cluster's roles have the passwords
    of the backup's time, and only these open it."""
    if not source.is_dir():
        return
    shutil.copytree(source, destination)
    destination.chmod(0o700)
    for copied in destination.iterdir():
        copied.chmod(0o600)


def _copy_unarchived_wal(old_data_dir: Path, data_dir: Path, archive: Path,
                         user: ServerUser | None) -> int:
    """Segments the old server wrote but had not archived yet (a restore with the disk
    intact): replayed too, so that `latest` loses nothing that reached the old pg_wal."""
    copied = 0
    old_wal = old_data_dir / "pg_wal"
    if not old_wal.is_dir():
        return 0
    for segment in sorted(old_wal.iterdir()):
        if not WAL_SEGMENT_PATTERN.match(segment.name) or (archive / segment.name).exists():
            continue
        destination = data_dir / "pg_wal" / segment.name
        shutil.copyfile(segment, destination)
        if user is not None:
            os.chown(destination, user.uid, user.gid)
        copied += 1
    return copied


def _write_recovery_settings(data_dir: Path, archive: Path, target: dt.datetime | None,
                             user: ServerUser | None) -> None:
    if not ARCHIVE_DIR_PATTERN.match(str(archive)):
        raise BackupError(f"WAL archive path {archive}: use letters, digits and / . _ + - only")
    settings = {
        "restore_command": f"cp {archive}/%f %p",
        "recovery_target_timeline": "latest",
        "recovery_target_action": "promote",
    }
    if target is not None:
        settings["recovery_target_time"] = target.isoformat()
    lines = "".join(f"{name} = '{value}'\n" for name, value in settings.items())
    with open(data_dir / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
        conf.write(f"# jifen db restore: reset once promoted\n{lines}")
    _write_private(data_dir / "recovery.signal", b"", user)


def _await_promotion(server: EmbeddedPostgres) -> dt.datetime | None:
    """Wait until recovery has ended; the time of the last transaction it replayed."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while _query(server, "SELECT pg_is_in_recovery()") != "f":
        if time.monotonic() >= deadline:
            raise BackupError(f"the server on {server.data_dir} is still replaying WAL after"
                              f" {RECOVERY_TIMEOUT_S:g} s: see {server.log_path}")
        time.sleep(RECOVERY_POLL_S)
    replayed = _query(server, "SELECT pg_last_xact_replay_timestamp()")
    return dt.datetime.fromisoformat(replayed) if replayed else None


def _superuser_access(server: EmbeddedPostgres) -> tuple[int, str]:
    port = server.status().port
    password = read_password(server.data_dir, SUPERUSER)
    if port is None or password is None:
        raise BackupError(f"no running server with a superuser password on {server.data_dir}")
    return port, password


def _query(server: EmbeddedPostgres, sql: str) -> str:
    """The last line psql prints for `sql`, run as the superuser."""
    port, password = _superuser_access(server)
    dsn = f"postgresql://{SUPERUSER}@{HOST}:{port}/postgres"
    output = run_tool("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn],
                      timeout_s=QUERY_TIMEOUT_S, input_text=sql + "\n", password=password)
    lines = output.strip().splitlines()
    return lines[-1].strip() if lines else ""


def _start_wal_file(backup_label: Path) -> str:
    match = re.search(r"^START WAL LOCATION: .* \(file ([0-9A-F]{24})\)$",
                      backup_label.read_text(), re.MULTILINE)
    if match is None:
        raise BackupError(f"{backup_label} names no start WAL file")
    return match.group(1)


def _size_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in _files(root))


def _files(root: Path) -> Iterator[Path]:
    for directory, _, files in os.walk(root):
        for name in files:
            yield Path(directory) / name


def _write_private(path: Path, data: bytes, user: ServerUser | None) -> None:
    with _private_file(path) as descriptor:
        os.write(descriptor, data)
        os.fsync(descriptor)
    if user is not None:
        os.chown(path, user.uid, user.gid)


@contextmanager
def _private_file(path: Path) -> Iterator[int]:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
