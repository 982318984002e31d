"""The software security module: clear session keys (MAC and PIN) and the PIN verification key
in this process's memory only.

At rest every key is sealed to the front's key pair (`acquirer_front.keystore`): TMKs in the
terminals table, session keys in terminal_sessions. A clear key exists only as the cipher state of a
`RetailMacKey` here, and while a new one is being issued.
"""

from __future__ import annotations

import secrets

import structlog

from acquirer_front.keys.security_module import IssuedSessionKey
from acquirer_front.keystore import PIN_KEY_PURPOSE, SESSION_KEY_PURPOSE, KeyStore, KeyStoreError
from proto.card_password import MALFORMED_BLOCK, verification_value
from proto.mac import (
    DOUBLE_KEY_SIZE_BYTES,
    RetailMacKey,
    check_value,
    encrypt_under,
    macs_equal,
    new_double_key,
)
from proto.pin_block import PinBlockError, decrypt_block

log = structlog.get_logger("acquirer_front.keys")

# A random 16 bytes whose halves are equal (a single-DES key) is drawn again; a second such
# draw in a row is practically impossible, so this bound only turns a broken RNG into an error.
_KEY_DRAWS_MAX = 8


class SoftwareSecurityModule:
    def __init__(self, keystore: KeyStore) -> None:
        self._keystore = keystore
        self._keys: dict[str, RetailMacKey] = {}
        self._pin_keys: dict[str, bytes] = {}

    def new_session_key(self, terminal_code: str, sealed_tmk: bytes) -> IssuedSessionKey:
        return self._issue(terminal_code, sealed_tmk, SESSION_KEY_PURPOSE)

    def new_pin_key(self, terminal_code: str, sealed_tmk: bytes) -> IssuedSessionKey:
        return self._issue(terminal_code, sealed_tmk, PIN_KEY_PURPOSE)

    def _issue(self, terminal_code: str, sealed_tmk: bytes, purpose: bytes) -> IssuedSessionKey:
        tmk = self._keystore.open(sealed_tmk, terminal_code)
        if len(tmk) != DOUBLE_KEY_SIZE_BYTES:
            raise KeyStoreError(f"the TMK of {terminal_code} is not a double-length DES key")
        key = _draw_key()
        return IssuedSessionKey(
            key_under_tmk_hex=encrypt_under(tmk, key).hex().upper(),
            check_value_hex=check_value(key),
            handle=self._keystore.seal(key, terminal_code, purpose),
        )

    def install(self, terminal_code: str, handle: bytes) -> None:
        self._keys[terminal_code] = RetailMacKey(
            self._open(terminal_code, handle, SESSION_KEY_PURPOSE))

    def install_pin_key(self, terminal_code: str, handle: bytes) -> None:
        self._pin_keys[terminal_code] = self._open(terminal_code, handle, PIN_KEY_PURPOSE)

    def _open(self, terminal_code: str, handle: bytes, purpose: bytes) -> bytes:
        key = self._keystore.open(handle, terminal_code, purpose)
        if len(key) != DOUBLE_KEY_SIZE_BYTES:
            raise KeyStoreError(f"a session key of {terminal_code} has a wrong size")
        return key

    def remove(self, terminal_code: str) -> None:
        self._keys.pop(terminal_code, None)
        self._pin_keys.pop(terminal_code, None)

    def password_verification(
        self, terminal_code: str, pan: str, pin_block_hex: str,
    ) -> bytes | None:
        pin_key = self._pin_keys.get(terminal_code)
        verification_key = self._keystore.pin_verification_key
        if pin_key is None or verification_key is None:
            return None
        try:
            password = decrypt_block(pin_key, pin_block_hex, pan)
        except PinBlockError:
            return MALFORMED_BLOCK
        return verification_value(verification_key, pan, password)

    def has_key(self, terminal_code: str) -> bool:
        return terminal_code in self._keys

    def verify_mac(self, terminal_code: str, data: bytes, mac_hex: str) -> bool:
        key = self._keys.get(terminal_code)
        if key is None:
            return False
        return macs_equal(key.mac_hex(data), mac_hex)

    def verify_mac_under_tmk(
        self, terminal_code: str, sealed_tmk: bytes | None, data: bytes, mac_hex: str,
    ) -> bool:
        if sealed_tmk is None:
            return False
        try:
            tmk = self._keystore.open(sealed_tmk, terminal_code)
        except KeyStoreError as exc:
            # Another KEK, another terminal's TMK copied into this row, or one not yet
            # re-sealed by migration 009: the sign-on is refused (A0).
            log.warning("tmk_not_opened", terminal=terminal_code, error=str(exc))
            return False
        if len(tmk) != DOUBLE_KEY_SIZE_BYTES:
            return False
        return macs_equal(RetailMacKey(tmk).mac_hex(data), mac_hex)

    def generate_mac(self, terminal_code: str, data: bytes) -> str | None:
        key = self._keys.get(terminal_code)
        return None if key is None else key.mac_hex(data)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return (f"SoftwareSecurityModule(keys={len(self._keys)}, "
                f"pin_keys={len(self._pin_keys)})")


def _draw_key() -> bytes:
    for _ in range(_KEY_DRAWS_MAX):
        try:
            return new_double_key(secrets.token_bytes(DOUBLE_KEY_SIZE_BYTES))
        except ValueError:  # the halves were equal: a single-DES key
            continue
    raise KeyStoreError("the random source keeps giving single-DES keys")
