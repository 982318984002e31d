"""Keys at rest: sealed under a local key-encryption key (KEK), never in the database in clear.

A TMK is stored in `terminals.tmk_encrypted`, and a MAC session key in
`terminal_sessions.session_key_encrypted`, as AES-GCM ciphertext under the KEK, so a database
dump or backup alone does not give away any terminal's keys. The KEK comes from the environment
variable named in config (`[front] kek_env`, default $JIFEN_KEK, hex), else from the file named
there (`[front] kek_file`, default `var/kek.hex`), created with mode 0600 and a random key on
first use.

Each sealed value is bound to its purpose (the GCM associated data): a sealed TMK copied into
the session-key column does not open as a session key, and the other way round.

Sealed layout: version (1 byte) | nonce (12) | ciphertext | GCM tag (16).

Errors: KeyStoreError (the KEK is missing, malformed or too open; a sealed key does not open).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from Crypto.Cipher import AES

from acquirer_front.config import FrontConfig

KEK_ENV_VAR = "JIFEN_KEK"
KEK_FILE_DEFAULT = "var/kek.hex"
# AES-128 or AES-256: the hex forms 32 and 64 characters long.
KEK_SIZES_BYTES = (16, 32)
# A new KEK is AES-256.
KEK_NEW_SIZE_BYTES = 32
SEALED_VERSION = 1
NONCE_SIZE_BYTES = 12  # the GCM standard nonce; random per seal, so never reused in practice
TAG_SIZE_BYTES = 16
# Binds the ciphertext to its purpose: a sealed TMK does not open as anything else.
ASSOCIATED_DATA = b"jifen/tmk/v1"
TMK_PURPOSE = ASSOCIATED_DATA
SESSION_KEY_PURPOSE = b"jifen/mac-session-key/v1"


class KeyStoreError(Exception):
    pass


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
    """$`env_var` if set, else the KEK file (created with a random key if missing)."""
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


def seal_key(kek: bytes, key_bytes: bytes, purpose: bytes = TMK_PURPOSE) -> bytes:
    assert len(kek) in KEK_SIZES_BYTES, "KEK size"
    assert key_bytes, "nothing to seal"
    nonce = secrets.token_bytes(NONCE_SIZE_BYTES)
    cipher = AES.new(kek, AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE_BYTES)
    cipher.update(purpose)
    ciphertext, tag = cipher.encrypt_and_digest(key_bytes)
    return bytes((SEALED_VERSION,)) + nonce + ciphertext + tag


def open_key(kek: bytes, sealed: bytes, purpose: bytes = TMK_PURPOSE) -> bytes:
    """The clear key; a wrong KEK or a damaged value is a KeyStoreError, never garbage."""
    assert len(kek) in KEK_SIZES_BYTES, "KEK size"
    if len(sealed) <= 1 + NONCE_SIZE_BYTES + TAG_SIZE_BYTES or sealed[0] != SEALED_VERSION:
        raise KeyStoreError("sealed key has an unknown format")
    nonce = sealed[1:1 + NONCE_SIZE_BYTES]
    ciphertext, tag = sealed[1 + NONCE_SIZE_BYTES:-TAG_SIZE_BYTES], sealed[-TAG_SIZE_BYTES:]
    cipher = AES.new(kek, AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE_BYTES)
    cipher.update(purpose)
    try:
        return cipher.decrypt_and_verify(ciphertext, tag)
    except ValueError as exc:
        raise KeyStoreError("sealed key does not open under this KEK") from exc


class KeyStore:
    """Seals and opens terminal keys under the local KEK. The MAC operations that use those
    keys sit behind `acquirer_front.keys.SecurityModule`, which an HSM adapter can replace."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) not in KEK_SIZES_BYTES:
            raise KeyStoreError(f"KEK must be 16 or 32 bytes, not {len(kek)}")
        self._kek = kek

    @classmethod
    def from_environment(cls, path: str | None = None, env_var: str = KEK_ENV_VAR) -> KeyStore:
        return cls(load_kek(path, env_var))

    @classmethod
    def from_config(cls, config: FrontConfig) -> KeyStore:
        """The KEK named by `[front] kek_env` / `kek_file`."""
        return cls(load_kek(config.kek_file, config.kek_env))

    def seal(self, key_bytes: bytes, purpose: bytes = TMK_PURPOSE) -> bytes:
        return seal_key(self._kek, key_bytes, purpose)

    def open(self, sealed: bytes, purpose: bytes = TMK_PURPOSE) -> bytes:
        return open_key(self._kek, sealed, purpose)

    def __repr__(self) -> str:
        return "KeyStore(kek=***)"
