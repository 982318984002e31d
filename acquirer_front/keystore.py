"""Keys at rest: sealed under a local key-encryption key (KEK), never in the database in clear.

A TMK is stored in `terminals.tmk_encrypted`, and a MAC session key in
`terminal_sessions.session_key_encrypted`, as AES-GCM ciphertext under the KEK, so a database
dump or backup alone does not give away any terminal's keys. The KEK comes from the environment
variable named in config (`[front] kek_env`, default $JIFEN_KEK, hex), else from the file named
there (`[front] kek_file`, default `var/kek.hex`), created with mode 0600 and a random key on
first use.

Each sealed value is bound to its purpose and its terminal (the GCM associated data is
purpose + b"/" + terminal code): a sealed TMK copied into the session-key column does not open
as a session key, and one copied into another terminal's row does not open as that terminal's.

Sealed layout: version (1 byte) | nonce (12) | ciphertext | GCM tag (16)
(`proto.keys.sealing`, shared with the other sealed values at rest). Version 2 means bound to
a terminal; version 1 (bound to the purpose only, before migration 009) never opens here:
only migration 009's data step opens it (`open_unbound_key`), to seal it again as version 2.

Errors: KeyStoreError (the KEK is missing, malformed or too open; a sealed key does not open).
"""

from __future__ import annotations

from acquirer_front.config import FrontConfig
from proto.keys.errors import KeyStoreError
from proto.keys.kek import KEK_ENV_VAR, KEK_FILE_DEFAULT, KEK_SIZES_BYTES, load_kek, parse_kek_hex
from proto.keys.sealing import open_sealed, seal

__all__ = [
    "KEK_ENV_VAR", "KEK_FILE_DEFAULT", "KeyStore", "KeyStoreError", "load_kek", "open_key",
    "open_unbound_key", "parse_kek_hex", "seal_key",
]

# Binds the ciphertext to its purpose: a sealed TMK does not open as anything else.
ASSOCIATED_DATA = b"jifen/tmk/v1"
TMK_PURPOSE = ASSOCIATED_DATA
SESSION_KEY_PURPOSE = b"jifen/mac-session-key/v1"


# The sealed layout's version of a key bound to its terminal; version 1 was the purpose only.
TERMINAL_BOUND_VERSION = 2
UNBOUND_VERSION = 1


def terminal_associated_data(purpose: bytes, terminal_code: str) -> bytes:
    assert terminal_code, "a terminal key is bound to its terminal"
    return purpose + b"/" + terminal_code.encode()


def seal_key(
    kek: bytes, key_bytes: bytes, terminal_code: str, purpose: bytes = TMK_PURPOSE,
) -> bytes:
    assert len(kek) in KEK_SIZES_BYTES, "KEK size"
    return seal(kek, key_bytes, terminal_associated_data(purpose, terminal_code),
                TERMINAL_BOUND_VERSION)


def open_key(
    kek: bytes, sealed: bytes, terminal_code: str, purpose: bytes = TMK_PURPOSE,
) -> bytes:
    """The clear key; a wrong KEK, another terminal's or purpose's key, an unconverted
    (version 1) or a damaged value is a KeyStoreError, never garbage."""
    assert len(kek) in KEK_SIZES_BYTES, "KEK size"
    return open_sealed(kek, sealed, terminal_associated_data(purpose, terminal_code),
                       TERMINAL_BOUND_VERSION)


def open_unbound_key(kek: bytes, sealed: bytes, purpose: bytes) -> bytes:
    """A version 1 key (bound to its purpose only): for migration 009's data step alone."""
    assert len(kek) in KEK_SIZES_BYTES, "KEK size"
    return open_sealed(kek, sealed, purpose, UNBOUND_VERSION)


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

    def seal(self, key_bytes: bytes, terminal_code: str, purpose: bytes = TMK_PURPOSE) -> bytes:
        return seal_key(self._kek, key_bytes, terminal_code, purpose)

    def open(self, sealed: bytes, terminal_code: str, purpose: bytes = TMK_PURPOSE) -> bytes:
        return open_key(self._kek, sealed, terminal_code, purpose)

    def __repr__(self) -> str:
        return "KeyStore(kek=***)"
