"""Backup and restore of the embedded server, measured (docs/reliability.md, "Backup and
restore"): the recovery point after a lost disk, the commit latency, and the recovery time.

    python -m loadtest.backup_bench rpo [--seconds 90] [--rate 20] [--synchronous]
    python -m loadtest.backup_bench rto [--cards 1000000] [--postings 1000000]

`rpo`: a server of its own that archives its WAL, a base backup, then approvals at a steady
rate, each one row of about an approval's WAL (APPROVAL_PAD_BYTES), acknowledged when its
COMMIT returns; then the postmaster is killed, the data directory deleted (a lost disk) and
the server restored to `latest`. Approvals acknowledged but missing are the recovery point.
`--synchronous` runs `pg_receivewal --synchronous` as the synchronous standby as well, and
hands its WAL (with the partial segment) to the restore. Each approval's commit latency is
reported too, so that both modes can be compared.

`rto`: a database with `--cards` issued cards and a journal day of `--postings`, a base
backup, a second day of journal after it (WAL to replay), then a lost disk and a restore to
`latest`, timed: copy, start, replay and promotion.

Everything lives under --work-dir (var/backup-bench), made anew at each run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import msgspec

from database import EmbeddedPostgres, migrate
from database.backup import restore, take_backup, wal_archive_dir
from database.embedded import HOST, SUPERUSER
from database.passwords import read_password
from database.tools import tool_environment, tool_path
from loadtest.journal_gen import JournalShape, generate_journal
from loadtest.provision import ensure_fleet

DATABASE_NAME = "bench"
# About the WAL of one approval: the host's transaction, entry, postings and two account
# updates, with their index entries.
APPROVAL_PAD_BYTES = 1_500
# The standby's name in synchronous_standby_names.
RECEIVER_NAME = "jifen_receivewal"
# pg_receivewal connects and is acknowledged as synchronous within a second or two.
RECEIVER_WAIT_S = 30.0
# The killed postmaster's backends exit within milliseconds.
CRASH_WAIT_S = 30.0
# A statement of the load: past this the server is wedged.
STATEMENT_TIMEOUT_S = 10.0
POLL_S = 0.05


class RpoResult(msgspec.Struct, frozen=True):
    synchronous: bool
    seconds: float
    acknowledged: int
    lost: int
    lost_oldest_age_s: float  # how long before the crash the oldest lost approval was answered
    commit_ms_p50: float
    commit_ms_p99: float
    restore_s: float


class RtoResult(msgspec.Struct, frozen=True):
    cards: int
    postings_per_day: int
    backup_bytes: int
    backup_s: float
    wal_replayed_bytes: int
    restore_s: float


def _server(work_dir: Path) -> tuple[EmbeddedPostgres, Path]:
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    backup_dir = work_dir / "backups"
    return EmbeddedPostgres(work_dir / "pg", wal_archive_dir(backup_dir)), backup_dir


async def _lose_disk(server: EmbeddedPostgres) -> None:
    pid = server.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + CRASH_WAIT_S
    while server.status().pid is not None:
        assert time.monotonic() < deadline, "the killed server is still there"
        await asyncio.sleep(POLL_S)
    shutil.rmtree(server.data_dir)


async def measure_rpo(work_dir: Path, seconds: float, rate: float,
                      synchronous: bool) -> RpoResult:
    server, backup_dir = _server(work_dir)
    url = server.ensure_database(DATABASE_NAME)
    connection = await asyncpg.connect(url, timeout=STATEMENT_TIMEOUT_S)
    await connection.execute("CREATE TABLE approvals (id bigint PRIMARY KEY,"
                             " answered_at timestamptz NOT NULL DEFAULT now(), pad text)")
    take_backup(server, backup_dir, 1)
    receiver = _start_receiver(server, work_dir / "stream", connection) if synchronous else None
    if receiver is not None:
        await _await_synchronous(connection)
    acknowledged, latencies_ms, crashed_at = await _approvals(connection, server, seconds, rate)
    if receiver is not None:
        receiver.terminate()
        receiver.wait(timeout=CRASH_WAIT_S)
        _hand_stream_to_archive(work_dir / "stream", wal_archive_dir(backup_dir))
    began = time.perf_counter()
    restore(server, backup_dir, None)
    restore_s = time.perf_counter() - began
    connection = await asyncpg.connect(server.ensure_database(DATABASE_NAME))
    present = {row[0] for row in await connection.fetch("SELECT id FROM approvals")}
    await connection.close()
    server.stop()
    lost = [approval for approval in acknowledged if approval[0] not in present]
    oldest_s = crashed_at - min(at for _, at in lost) if lost else 0.0
    quantiles = statistics.quantiles(latencies_ms, n=100)
    return RpoResult(synchronous, seconds, len(acknowledged), len(lost), oldest_s,
                     quantiles[49], quantiles[98], restore_s)


async def _approvals(connection: asyncpg.Connection, server: EmbeddedPostgres, seconds: float,
                     rate: float) -> tuple[list[tuple[int, float]], list[float], float]:
    """Insert at `rate` per second for `seconds`, then kill the server mid-load."""
    pad = "x" * APPROVAL_PAD_BYTES
    acknowledged: list[tuple[int, float]] = []
    latencies_ms = []
    started = time.monotonic()
    approval = 0
    while time.monotonic() - started < seconds:
        approval += 1
        sent = time.monotonic()
        await connection.execute("INSERT INTO approvals (id, pad) VALUES ($1, $2)",
                                 approval, pad, timeout=STATEMENT_TIMEOUT_S)
        answered = time.monotonic()
        acknowledged.append((approval, answered))
        latencies_ms.append((answered - sent) * 1000)
        await asyncio.sleep(max(0.0, started + approval / rate - time.monotonic()))
    crashed_at = time.monotonic()
    await _lose_disk(server)
    connection.terminate()
    return acknowledged, latencies_ms, crashed_at


def _start_receiver(server: EmbeddedPostgres, stream_dir: Path,
                    connection: asyncpg.Connection) -> subprocess.Popen[bytes]:
    """pg_receivewal as the synchronous standby (run as ourselves: the bench's process)."""
    stream_dir.mkdir(mode=0o700)
    port = server.status().port
    password = read_password(server.data_dir, SUPERUSER)
    assert port is not None and password is not None
    dsn = (f"host={HOST} port={port} user={SUPERUSER} application_name={RECEIVER_NAME}")
    environment = tool_environment(None, password)
    subprocess.run([str(tool_path("pg_receivewal")), "-D", str(stream_dir), "-S", "bench",
                    "--create-slot", "--if-not-exists", "-d", dsn, "--no-password"],
                   env=environment, check=True, timeout=RECEIVER_WAIT_S)
    return subprocess.Popen([str(tool_path("pg_receivewal")), "-D", str(stream_dir),
                             "-S", "bench", "--synchronous", "--no-loop", "-d", dsn,
                             "--no-password"], env=environment, stderr=subprocess.DEVNULL)


async def _await_synchronous(connection: asyncpg.Connection) -> None:
    await connection.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{RECEIVER_NAME}'")
    await connection.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + RECEIVER_WAIT_S
    while await connection.fetchval("SELECT count(*) FROM pg_stat_replication"
                                    " WHERE sync_state = 'sync'") == 0:
        assert time.monotonic() < deadline, "pg_receivewal did not become synchronous"
        await asyncio.sleep(POLL_S)


def _hand_stream_to_archive(stream_dir: Path, archive: Path) -> None:
    """The received segments the archive lacks, the partial one under its full name."""
    for segment in sorted(stream_dir.iterdir()):
        name = segment.name.removesuffix(".partial")
        if len(name) == 24 and not (archive / name).exists():
            shutil.copyfile(segment, archive / name)
    if os.geteuid() == 0:
        owner = archive.stat()
        for copied in archive.iterdir():
            os.chown(copied, owner.st_uid, owner.st_gid)


async def measure_rto(work_dir: Path, cards: int, postings: int) -> RtoResult:
    server, backup_dir = _server(work_dir)
    url = server.ensure_database(DATABASE_NAME)
    await migrate(url)
    await ensure_fleet(url, 1, cards)
    connection = await asyncpg.connect(url)
    day = dt.date(2026, 12, 1)
    await generate_journal(connection, JournalShape(day, postings, alliance_code="GEN1"))
    began = time.perf_counter()
    backup = take_backup(server, backup_dir, 1).backup
    backup_s = time.perf_counter() - began
    wal_position = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"
    wal_before = await connection.fetchval(wal_position)
    await generate_journal(connection, JournalShape(day + dt.timedelta(days=1), postings,
                                                    alliance_code="GEN2"))
    wal_bytes = await connection.fetchval(wal_position) - wal_before
    await connection.close()
    await _lose_disk(server)
    began = time.perf_counter()
    restore(server, backup_dir, None)
    restore_s = time.perf_counter() - began
    server.stop()
    return RtoResult(cards, postings, backup.size_bytes, backup_s, int(wal_bytes), restore_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.backup_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("var/backup-bench"))
    commands = parser.add_subparsers(dest="measure", required=True)
    rpo = commands.add_parser("rpo")
    rpo.add_argument("--seconds", type=float, default=90.0)
    rpo.add_argument("--rate", type=float, default=20.0, help="approvals per second")
    rpo.add_argument("--synchronous", action="store_true")
    rto = commands.add_parser("rto")
    rto.add_argument("--cards", type=int, default=1_000_000)
    rto.add_argument("--postings", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    work_dir = args.work_dir.resolve()
    result: RpoResult | RtoResult
    if args.measure == "rpo":
        result = asyncio.run(measure_rpo(work_dir, args.seconds, args.rate, args.synchronous))
    else:
        result = asyncio.run(measure_rto(work_dir, args.cards, args.postings))
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(result)).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
