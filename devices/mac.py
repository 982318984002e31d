"""The terminal's side of MAC (host interface §7): session key from MK/MV, and the retail MAC.

ISO 9797-1 MAC algorithm 3 (ANSI X9.19): single-DES CBC under the key's left half, then the last
block decrypted under the right half and encrypted under the left; padding method 1 (zeros).
"""

from __future__ import annotations

from Crypto.Cipher import DES, DES3

from devices.errors import SessionKeyError

BLOCK_SIZE_BYTES = 8
DOUBLE_KEY_SIZE_BYTES = 16
MAC_HEX_SIZE = 16
CHECK_VALUE_HEX_SIZE = 6
# Requests that carry field 64/128 once the terminal must MAC; 0800 never does.
MAC_MTIS = frozenset({"0100", "0200", "0220", "0400", "0420", "0500"})


def retail_mac(key: bytes, data: bytes) -> bytes:
    assert len(key) == DOUBLE_KEY_SIZE_BYTES, "a double-length DES key"
    padding = -len(data) % BLOCK_SIZE_BYTES
    padded = data + bytes(padding) if data else bytes(BLOCK_SIZE_BYTES)
    left, right = DES.new(key[:8], DES.MODE_ECB), DES.new(key[8:], DES.MODE_ECB)
    chain = bytes(BLOCK_SIZE_BYTES)
    for start in range(0, len(padded), BLOCK_SIZE_BYTES):
        block = padded[start:start + BLOCK_SIZE_BYTES]
        chain = left.encrypt(bytes(a ^ b for a, b in zip(chain, block, strict=True)))
    return left.encrypt(right.decrypt(chain))


def check_value(key: bytes) -> str:
    """First 3 bytes of the key's triple-DES encryption of 8 zero bytes, as 6 hex."""
    return DES3.new(key, DES3.MODE_ECB).encrypt(bytes(BLOCK_SIZE_BYTES))[:3].hex().upper()


def open_session_key(tmk: bytes, key_under_tmk_hex: str, check_value_hex: str) -> bytes:
    """The clear MAC key of tags MK/MV; a mismatch with the check value is a SessionKeyError."""
    try:
        encrypted = bytes.fromhex(key_under_tmk_hex)
        key = DES3.new(tmk, DES3.MODE_ECB).decrypt(encrypted)
    except ValueError as exc:
        raise SessionKeyError(f"MK is not a triple-DES key under the TMK: {exc}") from exc
    if len(key) != DOUBLE_KEY_SIZE_BYTES:
        raise SessionKeyError(f"MK holds {len(key)} bytes, not {DOUBLE_KEY_SIZE_BYTES}")
    if check_value(key) != check_value_hex.upper():
        raise SessionKeyError("MV does not match the key in MK")
    return key


def mac_field(fields: dict[str, str]) -> str:
    """64, or 128 when a secondary bitmap is present (any field above 64)."""
    return "128" if any(name.isdigit() and int(name) > 64 for name in fields) else "64"


def verify_answer_mac(key: bytes, body: bytes, fields: dict[str, str]) -> bool | None:
    """True/False for an answer carrying a MAC, None for one without (such as 58 or A0)."""
    name = mac_field(fields)
    mac = fields.get(name)
    if mac is None:
        return None
    # The MAC field is last, fixed 16 ASCII hex: everything before its value is covered.
    return retail_mac(key, body[:-MAC_HEX_SIZE]).hex().upper() == mac.upper()
