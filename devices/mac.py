"""The terminal's side of MAC (host interface §7): session key from MK/MV, and answer checks.

The cryptography itself (retail MAC, check value, triple-DES under the TMK) is proto.mac's,
shared with the front; the names are re-exported here for the simulator's callers.
"""

from __future__ import annotations

from devices.errors import SessionKeyError
from proto.mac import (
    BLOCK_SIZE_BYTES,
    CHECK_VALUE_HEX_SIZE,
    DOUBLE_KEY_SIZE_BYTES,
    MAC_HEX_SIZE,
    MAC_MTIS,
    check_value,
    decrypt_under,
    mac_covered,
    mac_field,
    macs_equal,
    retail_mac,
    retail_mac_hex,
)

__all__ = [
    "BLOCK_SIZE_BYTES", "CHECK_VALUE_HEX_SIZE", "DOUBLE_KEY_SIZE_BYTES", "MAC_HEX_SIZE",
    "MAC_MTIS", "check_value", "mac_field", "open_session_key", "retail_mac", "verify_answer_mac",
]


def open_session_key(tmk: bytes, key_under_tmk_hex: str, check_value_hex: str) -> bytes:
    """The clear MAC key of tags MK/MV; a mismatch with the check value is a SessionKeyError."""
    try:
        key = decrypt_under(tmk, bytes.fromhex(key_under_tmk_hex))
    except ValueError as exc:
        raise SessionKeyError(f"MK is not a triple-DES key under the TMK: {exc}") from exc
    if len(key) != DOUBLE_KEY_SIZE_BYTES:
        raise SessionKeyError(f"MK holds {len(key)} bytes, not {DOUBLE_KEY_SIZE_BYTES}")
    if check_value(key) != check_value_hex.upper():
        raise SessionKeyError("MV does not match the key in MK")
    return key


def verify_answer_mac(key: bytes, body: bytes, fields: dict[str, str]) -> bool | None:
    """True/False for an answer carrying a MAC, None for one without (such as 58 or A0)."""
    mac = fields.get(mac_field(fields))
    if mac is None:
        return None
    return macs_equal(retail_mac_hex(key, mac_covered(body)), mac)
