"""The embedded server's passwords: one file per role, 0600, in `<data_dir>.secrets/`.

Beside the data directory, not in it: the server's user owns the data directory and a backup
of it should not carry the keys to the server. Each file holds one password, made by
`secrets.token_urlsafe` (URL-safe: it goes into a DSN and a quoted SQL literal unescaped). A
file is created with O_EXCL | O_NOFOLLOW, so a planted file or symlink is refused, not
followed; the directory is 0700 and must belong to us.

`read_password_file` reads a service's password for a server of your own (`[database]
host_password_file`, ...), often a systemd credential (`credential:db-password`).
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from database.errors import EmbeddedServerError, PasswordFileError
from proto.settings import is_credential, resolve_file_path

SECRETS_DIR_SUFFIX = ".secrets"
# 32 bytes of randomness: 43 characters, far past any guessing over a socket.
PASSWORD_BYTES = 32
PASSWORD_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43,}$")
ROLE_NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# A password file holds one line; PostgreSQL's own limit is about 1 KiB, and more is not ours.
PASSWORD_FILE_SIZE_MAX = 4096


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


def read_private_file(path: str | os.PathLike[str], size_max: int, what: str) -> bytes:
    """The bytes of a small secret file (an operator's or a card's password file, typed by a
    person): never through a symbolic link, a regular file of this process's user that no one
    else may read, at most `size_max` bytes; PasswordFileError naming `what` otherwise."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise PasswordFileError(f"cannot read the {what} {path}: {exc.strerror}") from exc
    try:
        info = os.fstat(descriptor)
        mode = stat.S_IMODE(info.st_mode)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or mode & 0o077:
            raise PasswordFileError(
                f"{what} {path} must be a file of uid {os.geteuid()} that only it can read"
                f" (mode {mode:04o}); chmod 600 it")
        content = os.read(descriptor, size_max + 1)
    finally:
        os.close(descriptor)
    if len(content) > size_max:
        raise PasswordFileError(f"{what} {path} is too large (over {size_max} bytes)")
    return content


def read_password_file(setting: str) -> str:
    """The password in the file a `<service>_password_file` setting names (one line).

    A plain path must not be open to group or others. A `credential:` one is not checked so:
    systemd's credentials directory is the service's alone, and where systemd grants the
    service's user read access by an ACL the mode shows the ACL's mask in the group bits."""
    try:
        path = resolve_file_path(setting)
    except ValueError as exc:
        raise PasswordFileError(f"database password file {exc}") from exc
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise PasswordFileError(f"cannot read the database password file {path}: "
                                f"{exc.strerror}") from exc
    try:
        mode = stat.S_IMODE(os.fstat(descriptor).st_mode)
        if not is_credential(setting) and mode & 0o077:
            raise PasswordFileError(f"database password file {path} is open to other users "
                                    f"(mode {mode:04o}); chmod 600 it")
        content = os.read(descriptor, PASSWORD_FILE_SIZE_MAX + 1)
    finally:
        os.close(descriptor)
    lines = content.decode(errors="replace").splitlines()
    if len(content) > PASSWORD_FILE_SIZE_MAX or len(lines) != 1 or not lines[0]:
        raise PasswordFileError(f"database password file {path} must hold one line, the "
                                f"password")
    return lines[0]
