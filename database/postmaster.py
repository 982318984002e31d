"""Read `postmaster.pid`: which server runs on a data directory, on which port, in which state.

The file outlives a crash, and after a reboot its pid may name an unrelated process, so a
server counts as running only when that pid is a live `postgres` whose working directory is
the data directory (the postmaster changes into it at start).
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

PID_FILE_NAME = "postmaster.pid"
# Line numbers (from 0) of the file's fields, per PostgreSQL's pidfile.h.
_LINE_PID = 0
_LINE_PORT = 3
_LINE_STATUS = 7

STATUS_READY = "ready"
STATUS_STOPPING = "stopping"


class Postmaster(msgspec.Struct, frozen=True):
    pid: int
    port: int | None
    # "starting", "ready", "stopping" or "" while the server is still writing the file.
    status: str


def read_postmaster(data_dir: Path) -> Postmaster | None:
    """The file's content, or None if it is absent or not yet readable."""
    try:
        lines = (data_dir / PID_FILE_NAME).read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    fields = [line.strip() for line in lines]
    if len(fields) <= _LINE_PID or not fields[_LINE_PID].isdigit():
        return None
    port_text = fields[_LINE_PORT] if len(fields) > _LINE_PORT else ""
    status = fields[_LINE_STATUS] if len(fields) > _LINE_STATUS else ""
    return Postmaster(
        pid=int(fields[_LINE_PID]),
        port=int(port_text) if port_text.isdigit() else None,
        status=status,
    )


def is_live_postmaster(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is a running postgres serving `data_dir`."""
    proc = Path("/proc") / str(pid)
    if not Path("/proc/self").exists():
        return pid_exists(pid)  # no procfs: the best we can do is ask the kernel
    if is_zombie(pid):
        return False
    try:
        if (proc / "comm").read_text().strip() != "postgres":
            return False
    except (FileNotFoundError, ProcessLookupError):
        return False
    try:
        return os.readlink(proc / "cwd") == os.path.realpath(data_dir)
    except PermissionError:
        return True  # another user's process: the name check above has to do
    except (FileNotFoundError, ProcessLookupError):
        return False


def server_processes(data_dir: Path) -> list[int]:
    """Live postgres processes working in `data_dir`: after a crash of the postmaster, its
    orphaned backends, which postgres requires gone (they hold its shared memory)."""
    if not Path("/proc/self").exists():
        return []
    real_data_dir = os.path.realpath(data_dir)
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() == "postgres" and os.readlink(
                proc / "cwd"
            ) == real_data_dir:
                pids.append(int(proc.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # gone meanwhile, a zombie, or another user's process
    return pids


def is_zombie(pid: int) -> bool:
    """A dead process its parent has not reaped yet: postgres still counts its pid as in use."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state follows the command name, which is in parentheses and may contain spaces.
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def pid_exists(pid: int) -> bool:
    """Whether any process has this pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
