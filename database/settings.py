"""Settings of the embedded server: durable OLTP on a small box (2 cores, 24 GiB).

They are written to `jifen.conf` in the data directory, which `postgresql.conf` includes, and
rewritten at every start, so a change here applies at the next start and a hand-run
`pg_ctl start` gets the same settings. `postgresql.auto.conf` is read last, so an operator's
`ALTER SYSTEM` still overrides any of them.
"""

from __future__ import annotations

import re
from pathlib import Path

MANAGED_CONF_NAME = "jifen.conf"
INCLUDE_LINE = f"include_if_exists = '{MANAGED_CONF_NAME}'  # written by jifen at every start\n"
# The server's stderr, via `pg_ctl -l`: one file in the data directory, rotated at start.
LOG_FILE_NAME = "server.log"

# sun_path holds 108 bytes with the trailing NUL; the socket is <dir>/.s.PGSQL.<port>.
SOCKET_PATH_BYTES_MAX = 107
SOCKET_NAME_BYTES_MAX = len("/.s.PGSQL.65535")
# A path outside this set would need quoting rules of unix_socket_directories' list syntax.
SOCKET_DIR_PATTERN = re.compile(r"^[A-Za-z0-9/._+-]+$")

SERVER_SETTINGS: dict[str, str] = {
    # An approved points transaction has been answered to a terminal: it must survive a crash
    # of the process, the OS or the power. Each of these three is needed for that.
    "fsync": "on",  # WAL and data files reach the disk, not only the page cache
    "synchronous_commit": "on",  # COMMIT returns once its WAL is flushed: no lost approvals
    "full_page_writes": "on",  # a page torn by power loss is restored from its WAL image
    # The hot set (accounts, recent journal, idempotency keys) fits easily; the rest of the
    # RAM stays with the OS page cache and the switch, front and host processes on the box.
    "shared_buffers": "512MB",
    # One WAL segment, the largest useful size: bursts of concurrent commits do not wait for
    # WAL buffer space to be written out.
    "wal_buffers": "16MB",
    # Several processes each with a pool, psql sessions and a test run's databases; an idle
    # connection costs a few MB, and the pools, not this, bound the work on 2 cores.
    "max_connections": "200",
    # Fewer checkpoints mean fewer full-page images in the WAL, which is most of the write
    # volume of small OLTP updates; the price is a longer crash recovery (up to max_wal_size
    # of WAL to replay, about a minute).
    "checkpoint_timeout": "15min",
    "max_wal_size": "4GB",
    # Only local clients, each with a password (pg_hba.conf: scram-sha-256, no trust line).
    "listen_addresses": "127.0.0.1",
    # The unix socket lives in the 0700 data directory; the socket itself is the server
    # user's alone too, so that only it (and root) could reach it even from a wider directory.
    "unix_socket_permissions": "0700",
    "password_encryption": "scram-sha-256",
    # pg_ctl -l sends stderr to LOG_FILE_NAME; no collector process to supervise.
    "logging_collector": "off",
    "log_destination": "stderr",
    # Partitions (docs/operations.md, "Partitions"): central publishes reference data to each
    # partition, each partition publishes its host's outcomes to central, by PostgreSQL's
    # logical replication, which needs the WAL to carry row changes (a restart applies it).
    "wal_level": "logical",
    # A slot per partition on central and one on each partition, plus pg_receivewal and a
    # base backup's: 32 partitions with room to spare (each costs a few hundred bytes).
    "max_replication_slots": "64",
    "max_wal_senders": "64",
    # Central runs an apply worker per partition, and each new subscription two table-copy
    # workers for a while; the parallel query workers keep their default 8 besides.
    "max_logical_replication_workers": "40",
    "max_worker_processes": "48",
}


HBA_FILE_NAME = "pg_hba.conf"
# Every connection proves a password: over the unix socket and over 127.0.0.1 alike.
HBA_CONTENT = """# Written by jifen: every connection authenticates with a password (SCRAM).
# TYPE  DATABASE     USER      ADDRESS       METHOD
local   all          all                     scram-sha-256
host    all          all       127.0.0.1/32  scram-sha-256
# Base backups and WAL streaming (jifen db backup, pg_receivewal): the superuser only.
host    replication  postgres  127.0.0.1/32  scram-sha-256
"""
# The file as Jifen wrote it before backups: a start brings it up to HBA_CONTENT. A file that
# differs from both was edited by hand and is left alone.
HBA_CONTENT_BEFORE_BACKUPS = (
    "# Written by jifen: every connection authenticates with a password (SCRAM).\n"
    "# TYPE  DATABASE  USER  ADDRESS       METHOD\n"
    "local   all       all                 scram-sha-256\n"
    "host    all       all   127.0.0.1/32  scram-sha-256\n"
)


def hba_trusts(data_dir: Path) -> bool:
    """Whether pg_hba.conf lets anyone in without a password (as initdb --auth=trust did)."""
    try:
        text = (data_dir / HBA_FILE_NAME).read_text()
    except FileNotFoundError:
        return False
    for line in text.splitlines():
        fields = line.partition("#")[0].split()
        if fields and any(field in ("trust", "peer", "ident") for field in fields[3:]):
            return True
    return False


def socket_directory(data_dir: Path) -> str:
    """The data directory when its socket path fits in sun_path, else '' (TCP only)."""
    text = str(data_dir)
    fits = len(text.encode()) + SOCKET_NAME_BYTES_MAX <= SOCKET_PATH_BYTES_MAX
    return text if fits and SOCKET_DIR_PATTERN.match(text) else ""


# Continuous archiving (docs/reliability.md, "Backup and restore"). A WAL segment is archived
# when full or, under a trickle of load, after this long: the recovery point of a lost disk is
# at most this much of acknowledged approvals. A forced switch costs a 16 MB file however
# little it holds, so one a minute is at most 23 GB a day of archive when always busy.
ARCHIVE_TIMEOUT_S = 60
# In an archive path: what needs no quoting for sh nor escaping of `%` in archive_command.
ARCHIVE_DIR_PATTERN = re.compile(r"^/[A-Za-z0-9/._+-]+$")


def archive_settings(archive_dir: Path | None) -> dict[str, str]:
    """archive_mode and its command: each finished WAL segment copied into `archive_dir`,
    flushed to disk, then renamed; a segment already there with the same content counts as
    archived (a retry after a crash mid-copy), a different one is an error (two servers
    sharing one archive). None: archiving off."""
    if archive_dir is None:
        return {"archive_mode": "off"}
    text = str(archive_dir)
    if not ARCHIVE_DIR_PATTERN.match(text):
        raise ValueError(f"WAL archive path {text!r}: use letters, digits and / . _ + - only")
    part = f"{text}/.%f.part"
    command = (
        f"if test -f {text}/%f; then cmp -s %p {text}/%f;"
        f" else cp %p {part} && sync {part} && mv {part} {text}/%f && sync {text}; fi"
    )
    return {
        "archive_mode": "on",
        "archive_command": command,
        "archive_timeout": f"{ARCHIVE_TIMEOUT_S}s",
    }


def render_managed_conf(data_dir: Path, port: int, archive_dir: Path | None = None) -> str:
    settings = dict(SERVER_SETTINGS)
    settings.update(archive_settings(archive_dir))
    settings["port"] = str(port)
    settings["unix_socket_directories"] = socket_directory(data_dir)
    lines = ["# Written by jifen at every start; use ALTER SYSTEM to override.\n"]
    for name, value in settings.items():
        escaped = value.replace("'", "''")
        lines.append(f"{name} = '{escaped}'\n")
    return "".join(lines)


def read_managed_port(data_dir: Path) -> int | None:
    """The port of the last start, to keep a stable DSN across restarts."""
    try:
        text = (data_dir / MANAGED_CONF_NAME).read_text()
    except FileNotFoundError:
        return None
    match = re.search(r"^port = '(\d+)'$", text, re.MULTILINE)
    return int(match.group(1)) if match else None
