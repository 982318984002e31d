"""The one seam between the front and its keys (jPOS calls it SMAdapter).

Callers never see a clear key: they get a session key already under the terminal's TMK (for
tag MK, or PK for a PIN session key), its check value (tag MV or PV) and an opaque handle to
persist, and they ask the module to verify or generate MACs by terminal, and to turn a card
password's PIN block (field 52) into its verification value (proto.card_password) under the PIN
verification key, which never leaves the module. The software module keeps clear keys in
memory only; an HSM adapter would keep them inside the HSM, its handle being the key under the
HSM's own master key. Verification is synchronous because the front's checks are (a step
returns a response code); an HSM adapter would need the MAC check as an awaited step and
answers signed before they are encoded, which the pipeline can do without changing this
interface's meaning.
"""

from __future__ import annotations

from typing import Protocol

import msgspec


class IssuedSessionKey(msgspec.Struct, frozen=True):
    """A fresh MAC session key, in the only forms that may leave the module."""

    key_under_tmk_hex: str   # tag MK (PK): triple-DES ECB under the terminal's TMK, 32 hex
    check_value_hex: str     # tag MV (PV): 6 hex
    handle: bytes            # what terminal_sessions.session_key_encrypted keeps

    def __repr__(self) -> str:
        return f"IssuedSessionKey(check_value={self.check_value_hex})"


class SecurityModule(Protocol):
    def new_session_key(self, terminal_code: str, sealed_tmk: bytes) -> IssuedSessionKey:
        """A fresh session key for the terminal whose TMK is `sealed_tmk`; not yet in use
        (install it once it is durable). KeyStoreError when the TMK does not open."""
        ...

    def install(self, terminal_code: str, handle: bytes) -> None:
        """Make the key behind `handle` the terminal's current MAC key (after a sign-on or key
        change is durable, or at start from terminal_sessions). KeyStoreError if it does not
        open."""
        ...

    def remove(self, terminal_code: str) -> None:
        """Forget the terminal's keys, MAC and PIN (sign-off, or a sign-on that needs no
        MAC)."""
        ...

    def new_pin_key(self, terminal_code: str, sealed_tmk: bytes) -> IssuedSessionKey:
        """A fresh PIN session key (tags PK/PV), as `new_session_key`."""
        ...

    def install_pin_key(self, terminal_code: str, handle: bytes) -> None:
        """Make the key behind `handle` the terminal's current PIN key, as `install`."""
        ...

    def password_verification(
        self, terminal_code: str, pan: str, pin_block_hex: str,
    ) -> bytes | None:
        """The verification value of the password in field 52 (under the terminal's PIN key),
        proto.card_password.MALFORMED_BLOCK for a block that is not a well-formed format 0
        block, None when the terminal has no PIN key or the module no verification key."""
        ...

    def has_key(self, terminal_code: str) -> bool: ...

    def verify_mac(self, terminal_code: str, data: bytes, mac_hex: str) -> bool:
        """True when `mac_hex` is the MAC of `data` under the terminal's current key; False
        when it is not, or the terminal has no key."""
        ...

    def verify_mac_under_tmk(
        self, terminal_code: str, sealed_tmk: bytes | None, data: bytes, mac_hex: str,
    ) -> bool:
        """True when `mac_hex` is the MAC of `data` under the terminal's TMK (a MAC terminal's
        sign-on, §7); False when it is not, or the TMK is missing or does not open."""
        ...

    def generate_mac(self, terminal_code: str, data: bytes) -> str | None:
        """The MAC of `data` as 16 hex, or None when the terminal has no key."""
        ...
