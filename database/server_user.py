"""The system user the server runs as: PostgreSQL refuses to run as root.

As root (here and in CI) the server runs as SERVER_USER, which must own the data directory,
traverse every directory above it and read the bundled installation. A clone may live in a
0700 mktemp directory, so ancestors get o+x (traverse only, no listing).
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from pathlib import Path

import msgspec

from database.errors import EmbeddedServerError

SERVER_USER = "jifen-pg"
# useradd only writes /etc/passwd and friends; it waits on their lock at worst.
USERADD_TIMEOUT_S = 30.0

_OTHERS_READ_TRAVERSE = stat.S_IROTH | stat.S_IXOTH


class ServerUser(msgspec.Struct, frozen=True):
    uid: int
    gid: int


def server_user() -> ServerUser | None:
    """SERVER_USER when we are root (created if needed); None: run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        _create_system_user(SERVER_USER)
        entry = pwd.getpwnam(SERVER_USER)
    return ServerUser(uid=entry.pw_uid, gid=entry.pw_gid)


def _create_system_user(name: str) -> None:
    argv = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]
    try:
        completed = subprocess.run(
            argv, capture_output=True, text=True, timeout=USERADD_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedServerError(f"cannot create system user {name}: {exc}") from exc
    # Exit 9: another process created it between our lookup and useradd.
    if completed.returncode not in (0, 9):
        raise EmbeddedServerError(
            f"cannot create system user {name}: {completed.stderr.strip()}"
        )


def grant_traverse_to_ancestors(path: Path) -> None:
    """Add o+x to every directory above `path`, so another user can reach it."""
    for ancestor in path.parents:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def grant_read_to_others(root: Path) -> None:
    """Make an installation tree readable (and its programs runnable) by any user."""
    for directory, _, files in os.walk(root):
        _add_mode(Path(directory), _OTHERS_READ_TRAVERSE)
        for name in files:
            path = Path(directory) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            _add_mode(path, stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))


def _add_mode(path: Path, bits: int) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & bits != bits:
        path.chmod(mode | bits)


def chown_tree(root: Path, user: ServerUser | None) -> None:
    """Give a data directory to the server's user, if it is not already theirs."""
    if user is None or root.stat().st_uid == user.uid:
        return
    for directory, directories, files in os.walk(root):
        for name in directories + files:
            os.chown(Path(directory) / name, user.uid, user.gid, follow_symlinks=False)
    # The top last: an interrupted walk is redone next time, since the check reads the top.
    os.chown(root, user.uid, user.gid, follow_symlinks=False)


def ensure_private_dir(path: Path, user: ServerUser | None) -> None:
    """A directory (parents too) that only the server's user may use (0700, its own): a WAL
    archive or a backup, which the server or its tools write and nobody else may read."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    if user is None:
        return
    for ancestor in path.parents:
        info = ancestor.stat()
        if info.st_uid != user.uid and not info.st_mode & stat.S_IXOTH:
            ancestor.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)  # traverse, no listing
    if path.stat().st_uid != user.uid:
        os.chown(path, user.uid, user.gid)
