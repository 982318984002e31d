"""MAC and session-key cryptography of the host interface (§7), shared by front and terminals.

- The MAC is ISO 9797-1 MAC algorithm 3 (ANSI X9.19 retail MAC) with padding method 1 (zero
  bytes): single-DES CBC under the key's left half, then the last block decrypted under the
  right half and encrypted again under the left.
- A session key travels under the terminal master key (TMK) in triple-DES ECB (tag MK), with
  its check value (tag MV): the first 3 bytes of its triple-DES encryption of 8 zero bytes.

Keys are 16 bytes (double-length DES). Everything here is pure: no key is kept or logged.
"""

from __future__ import annotations

import hmac

from Crypto.Cipher import DES, DES3

from proto.codes import Mti, NetworkCode

BLOCK_SIZE_BYTES = 8
DOUBLE_KEY_SIZE_BYTES = 16
MAC_HEX_SIZE = 16
CHECK_VALUE_HEX_SIZE = 6
_ZERO_BLOCK = bytes(BLOCK_SIZE_BYTES)
# Requests that carry field 64/128 from a terminal that must MAC, and whose answers the host
# MACs too (§7).
MAC_MTIS = frozenset({"0100", "0200", "0220", "0400", "0420", "0500"})
# The 0800s that change a MAC terminal's session (field 70) and so carry a MAC of their own
# (§7, 1.2): the sign-on under the TMK, sign-off and key change under the session key. Echo
# carries none, and no 0810 is MACed.
SESSION_MAC_CODES = frozenset({NetworkCode.SIGN_OFF, NetworkCode.KEY_CHANGE})
NETWORK_MAC_CODES = frozenset({NetworkCode.SIGN_ON}) | SESSION_MAC_CODES


def is_network_maced(fields: dict[str, str]) -> bool:
    """An 0800 that a MAC terminal must MAC (its field 70 is sign-on, sign-off or key change)."""
    return fields.get("t") == Mti.NETWORK and fields.get("70") in NETWORK_MAC_CODES


class RetailMacKey:
    """A MAC key with its ciphers set up once: a session key MACs every request and answer of
    its terminal, and setting up a DES cipher costs as much as using it."""

    __slots__ = ("_left", "_left_ecb", "_right_ecb")

    def __init__(self, key: bytes) -> None:
        assert len(key) == DOUBLE_KEY_SIZE_BYTES, "a double-length DES key"
        self._left = key[:BLOCK_SIZE_BYTES]
        self._left_ecb = DES.new(self._left, DES.MODE_ECB)
        self._right_ecb = DES.new(key[BLOCK_SIZE_BYTES:], DES.MODE_ECB)

    def mac(self, data: bytes) -> bytes:
        """The 8-byte MAC of `data`; the CBC chain is one library call, not a loop per block."""
        padding = -len(data) % BLOCK_SIZE_BYTES
        # Padding method 1 pads an empty string to one block of zeros.
        padded = data + bytes(padding) if data else _ZERO_BLOCK
        cbc = DES.new(self._left, DES.MODE_CBC, iv=_ZERO_BLOCK)
        chain = cbc.encrypt(padded)[-BLOCK_SIZE_BYTES:]
        return self._left_ecb.encrypt(self._right_ecb.decrypt(chain))

    def mac_hex(self, data: bytes) -> str:
        """The MAC as it travels in field 64/128: 16 upper-case hex characters."""
        return self.mac(data).hex().upper()

    def __repr__(self) -> str:
        return "RetailMacKey(***)"


def retail_mac(key: bytes, data: bytes) -> bytes:
    """The 8-byte MAC of `data` under a 16-byte key."""
    return RetailMacKey(key).mac(data)


def retail_mac_hex(key: bytes, data: bytes) -> str:
    return RetailMacKey(key).mac_hex(data)


def macs_equal(expected_hex: str, received_hex: str) -> bool:
    """Constant-time comparison, case-insensitive, so timing does not leak a MAC's prefix."""
    return hmac.compare_digest(expected_hex.upper().encode("ascii", "replace"),
                               received_hex.upper().encode("ascii", "replace"))


def check_value(key: bytes) -> str:
    """First 3 bytes of the key's triple-DES encryption of 8 zero bytes, as 6 hex."""
    return DES3.new(key, DES3.MODE_ECB).encrypt(_ZERO_BLOCK)[:3].hex().upper()


def encrypt_under(master_key: bytes, key: bytes) -> bytes:
    """`key` under `master_key` in triple-DES ECB (what tag MK carries, as hex)."""
    assert len(key) % BLOCK_SIZE_BYTES == 0, "whole DES blocks"
    return DES3.new(master_key, DES3.MODE_ECB).encrypt(key)


def decrypt_under(master_key: bytes, encrypted: bytes) -> bytes:
    """The inverse of `encrypt_under`; ValueError when the sizes are wrong."""
    return DES3.new(master_key, DES3.MODE_ECB).decrypt(encrypted)


def new_double_key(random_bytes: bytes) -> bytes:
    """A double-length DES key from 16 random bytes: odd parity, as HSMs and terminals expect.
    ValueError when the halves are equal (the key would be single DES): draw again."""
    assert len(random_bytes) == DOUBLE_KEY_SIZE_BYTES, "16 random bytes"
    return DES3.adjust_key_parity(random_bytes)


def mac_field(fields: dict[str, str]) -> str:
    """64, or 128 when a secondary bitmap is present (any field above 64)."""
    return "128" if any(name.isdigit() and int(name) > 64 for name in fields) else "64"


def mac_covered(body: bytes) -> bytes:
    """What a MAC covers in a message whose last field is the MAC: all but its value (the MAC
    field is 64 or 128, the highest field present, fixed 16 ASCII hex characters)."""
    return body[:-MAC_HEX_SIZE]
