"""The key-encryption key (KEK): the one local secret; every data key is sealed under it.

Where it comes from, first found wins:
1. `$CREDENTIALS_DIRECTORY/kek` (systemd's LoadCredential=kek:/etc/jifen/kek.hex: the unit
   passes it to the service alone, in a private directory);
2. the environment variable (default $JIFEN_KEK), hex;
3. the file (default `var/kek.hex`), mode 0600, created with a random key on first use.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from proto.keys.errors import KeyStoreError

KEK_ENV_VAR = "JIFEN_KEK"
KEK_FILE_DEFAULT = "var/kek.hex"
CREDENTIALS_DIRECTORY_ENV_VAR = "CREDENTIALS_DIRECTORY"
CREDENTIAL_NAME = "kek"
# AES-128 or AES-256: the hex forms 32 and 64 characters long.
KEK_SIZES_BYTES = (16, 32)
# A new KEK is AES-256.
KEK_NEW_SIZE_BYTES = 32


def parse_kek_hex(text: str, source: str) -> bytes:
    text = text.strip()
    try:
        kek = bytes.fromhex(text)
    except ValueError as exc:
        raise KeyStoreError(f"KEK from {source} is not hex") from exc
    if len(kek) not in KEK_SIZES_BYTES:
        raise KeyStoreError(
            f"KEK from {source} has {len(text)} hex digits; it must have 32 or 64"
        )
    return kek


def load_kek(path: str | None = None, env_var: str = KEK_ENV_VAR) -> bytes:
    """The systemd credential if passed, else $`env_var` if set, else the KEK file (created
    with a random key if missing)."""
    credentials = os.environ.get(CREDENTIALS_DIRECTORY_ENV_VAR)
    if credentials:
        credential = Path(credentials) / CREDENTIAL_NAME
        if credential.exists():
            return parse_kek_hex(credential.read_text(), str(credential))
    text = os.environ.get(env_var) if env_var else None
    if text:
        return parse_kek_hex(text, f"${env_var}")
    file = Path(path or KEK_FILE_DEFAULT)
    if not file.exists():
        _create_kek_file(file)
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyStoreError(
            f"KEK file {file} is accessible to other users (mode {mode:04o}); chmod 600 it"
        )
    return parse_kek_hex(file.read_text(), str(file))


def _create_kek_file(file: Path) -> None:
    """Write a new random KEK; a concurrent creator's file wins, so every process agrees."""
    file.parent.mkdir(parents=True, exist_ok=True)
    staging = file.with_name(f".{file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_bytes(KEK_NEW_SIZE_BYTES).hex().upper() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process got there first
            os.link(staging, file)  # atomic: the file appears whole or not at all
    finally:
        staging.unlink(missing_ok=True)
