"""The embedded server's passwords: one file per role, 0600, in `<data_dir>.secrets/`.

Beside the data directory, not in it: the server's user owns the data directory and a backup
of it should not carry the keys to the server. Each file holds one password, made by
`secrets.token_urlsafe` (URL-safe: it goes into a DSN and a quoted SQL literal unescaped). A
file is created with O_EXCL | O_NOFOLLOW, so a planted file or symlink is refused, not
followed; the directory is 0700 and must belong to us.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from database.errors import EmbeddedServerError

SECRETS_DIR_SUFFIX = ".secrets"
# 32 bytes of randomness: 43 characters, far past any guessing over a socket.
PASSWORD_BYTES = 32
PASSWORD_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43,}$")
ROLE_NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def secrets_dir(data_dir: Path) -> Path:
    return data_dir.with_name(data_dir.name + SECRETS_DIR_SUFFIX)


def password_path(data_dir: Path, role: str) -> Path:
    assert ROLE_NAME_PATTERN.match(role), role
    return secrets_dir(data_dir) / role


def read_password(data_dir: Path, role: str) -> str | None:
    """The role's password, None if it has no file; a file we did not write is an error."""
    path = password_path(data_dir, role)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EmbeddedServerError(f"cannot read the password file {path}: {exc}") from exc
    try:
        info = os.fstat(descriptor)
        if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
            raise EmbeddedServerError(
                f"{path} must belong to uid {os.geteuid()} with mode 0600"
            )
        text = os.read(descriptor, 4096).decode(errors="replace").strip()
    finally:
        os.close(descriptor)
    if not PASSWORD_PATTERN.match(text):
        raise EmbeddedServerError(f"{path} does not hold a password written by jifen")
    return text


def ensure_password(data_dir: Path, role: str) -> str:
    """The role's password, made and written first if it has none."""
    existing = read_password(data_dir, role)
    if existing is not None:
        return existing
    _ensure_secrets_dir(secrets_dir(data_dir))
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    path = password_path(data_dir, role)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        # Another process wrote it between our read and our create: theirs wins.
        again = read_password(data_dir, role)
        assert again is not None
        return again
    try:
        os.write(descriptor, (password + "\n").encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return password


def _ensure_secrets_dir(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise EmbeddedServerError(f"{path} must be a directory of uid {os.geteuid()}")
    if stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(0o700)
