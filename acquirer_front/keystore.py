"""Terminal keys at rest: sealed to the front's key pair, so only the front opens them.

A TMK (`terminals.tmk_encrypted`) and a MAC session key
(`terminal_sessions.session_key_encrypted`) are sealed to the X25519 public key of the `tmk`
purpose (`proto.keys.sealed_box`, layout version 3). The back office, which writes TMKs, reads
only the public key (`data_key_public`) and holds a `TmkSealer`: it can seal, never open. The
front holds the private key (the `tmk` data key, sealed under its KEK in `data_keys`, which
row-level security lets only the front read) in its `KeyStore`. A database dump or backup
alone opens nothing.

Each sealed value is bound to its purpose and its terminal (associated data: purpose + b"/" +
terminal code): a TMK copied into the session-key column, or into another terminal's row, does
not open there.

Earlier layouts, opened only by the data steps of migrations (`back_office.data_migrations`):
version 1, AES-GCM under the KEK bound to the purpose only (to 009); version 2, under the KEK
bound to the terminal (to 010). The front opens neither.

Errors: KeyStoreError (the KEK is missing, malformed or too open; the key pair is missing or
does not match; a sealed key does not open).
"""

from __future__ import annotations

from acquirer_front.config import FrontConfig
from proto.keys.data_keys import Connection, Purpose, open_data_keys
from proto.keys.errors import KeyStoreError
from proto.keys.kek import KEK_SIZES_BYTES, load_kek
from proto.keys.public_keys import publish_public_key, read_public_key
from proto.keys.sealed_box import open_box, public_key_of, seal_to
from proto.keys.sealing import open_sealed, seal

__all__ = [
    "KeyStore", "KeyStoreError", "PIN_KEY_PURPOSE", "SESSION_KEY_PURPOSE", "TMK_PURPOSE",
    "TmkSealer",
    "open_under_kek", "open_unbound_key", "seal_under_kek",
]

TMK_PURPOSE = b"jifen/tmk/v1"
SESSION_KEY_PURPOSE = b"jifen/mac-session-key/v1"
PIN_KEY_PURPOSE = b"jifen/pin-session-key/v1"

# The sealed layouts' versions: 3 is sealed to the front's public key and bound to the terminal.
SEALED_TO_FRONT_VERSION = 3
KEK_BOUND_VERSION = 2
UNBOUND_VERSION = 1


def terminal_associated_data(purpose: bytes, terminal_code: str) -> bytes:
    assert terminal_code, "a terminal key is bound to its terminal"
    return purpose + b"/" + terminal_code.encode()


class TmkSealer:
    """Seals terminal keys for the front; holds no key that opens one (the back office)."""

    def __init__(self, public_key: bytes) -> None:
        self._public_key = public_key

    @classmethod
    async def load(cls, connection: Connection) -> TmkSealer:
        """The front's published public key; KeyStoreError when there is none yet."""
        return cls(await read_public_key(connection, Purpose.TMK))

    def seal(self, key_bytes: bytes, terminal_code: str, purpose: bytes = TMK_PURPOSE) -> bytes:
        return seal_to(self._public_key, key_bytes,
                       terminal_associated_data(purpose, terminal_code), SEALED_TO_FRONT_VERSION)


class KeyStore(TmkSealer):
    """Seals and opens terminal keys (the front). The MAC operations that use those keys sit
    behind `acquirer_front.keys.SecurityModule`, which an HSM adapter can replace."""

    def __init__(self, private_key: bytes, pin_verification_key: bytes | None = None) -> None:
        super().__init__(public_key_of(private_key))
        self._private_key = private_key
        # The `pin_verification` data key (proto.card_password), for the security module;
        # None: this front verifies no card password (every offered one is forwarded as none).
        self.pin_verification_key = pin_verification_key

    @classmethod
    async def open_with(
        cls, connection: Connection, kek: bytes, *, pin_verification: bool = True,
    ) -> KeyStore:
        """The front's key pair: the `tmk` data key opened under `kek` (created on a first
        start), its public key published for the back office (and checked if it was); and
        the `pin_verification` data key unless `pin_verification` is False (the data step of
        migration 010, which runs before 012 allows that purpose)."""
        purposes = [Purpose.TMK, Purpose.PIN_VERIFICATION] if pin_verification \
            else [Purpose.TMK]
        keys = await open_data_keys(connection, kek, purposes)
        store = cls(keys[Purpose.TMK], keys.get(Purpose.PIN_VERIFICATION))
        await publish_public_key(connection, Purpose.TMK, store._public_key)
        return store

    @classmethod
    async def from_config(cls, config: FrontConfig, connection: Connection) -> KeyStore:
        """The key pair under the KEK named by `[front] kek_env` / `kek_file`."""
        return await cls.open_with(connection, load_kek(config.kek_file, config.kek_env))

    def open(self, sealed: bytes, terminal_code: str, purpose: bytes = TMK_PURPOSE) -> bytes:
        """The clear key; another key pair's, another terminal's or purpose's key, an
        unconverted (version 1 or 2) or a damaged value is a KeyStoreError, never garbage."""
        return open_box(self._private_key, sealed,
                        terminal_associated_data(purpose, terminal_code),
                        SEALED_TO_FRONT_VERSION)

    def __repr__(self) -> str:
        return "KeyStore(private_key=***)"


def seal_under_kek(kek: bytes, key_bytes: bytes, terminal_code: str, purpose: bytes) -> bytes:
    """A version 2 key (under the KEK, bound to its terminal): migration 009's data step."""
    assert len(kek) in KEK_SIZES_BYTES, "KEK size"
    return seal(kek, key_bytes, terminal_associated_data(purpose, terminal_code),
                KEK_BOUND_VERSION)


def open_under_kek(kek: bytes, sealed: bytes, terminal_code: str, purpose: bytes) -> bytes:
    """A version 2 key: migration 010's data step, which seals it again to the front."""
    assert len(kek) in KEK_SIZES_BYTES, "KEK size"
    return open_sealed(kek, sealed, terminal_associated_data(purpose, terminal_code),
                       KEK_BOUND_VERSION)


def open_unbound_key(kek: bytes, sealed: bytes, purpose: bytes) -> bytes:
    """A version 1 key (bound to its purpose only): migration 009's data step."""
    assert len(kek) in KEK_SIZES_BYTES, "KEK size"
    return open_sealed(kek, sealed, purpose, UNBOUND_VERSION)
