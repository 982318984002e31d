"""ISO 9564-1 format 0 PIN blocks: the card password as a terminal sends it in field 52 (host
interface 1.2, §3 and §7), shared by the terminal simulator and the front's security module.

Format 0: the PIN field (control nibble 0, the length, the digits, F fill to 16 nibbles) XOR
the PAN field (four zero nibbles, then the 12 rightmost PAN digits before the check digit),
encrypted with triple-DES ECB under the terminal's PIN session key. Pure: no key or password
is kept or logged; a block that does not decode is a PinBlockError, never a guess.
"""

from __future__ import annotations

from Crypto.Cipher import DES3

PIN_BLOCK_SIZE_BYTES = 8
PIN_BLOCK_HEX_SIZE = 16
# The host interface's card passwords: 4 to 6 digits (ISO 9564 allows 4 to 12).
PASSWORD_LENGTH_MIN = 4
PASSWORD_LENGTH_MAX = 6
# The PAN field takes 12 digits before the check digit: a PAN needs 13 at least.
_PAN_LENGTH_MIN = 13
_FORMAT_0 = 0x0
_FILL = 0xF
_KEY_SIZE_BYTES = 16


class PinBlockError(ValueError):
    """A PIN block or password that is not what format 0 allows."""


def is_valid_password(password: str) -> bool:
    return (password.isascii() and password.isdigit()
            and PASSWORD_LENGTH_MIN <= len(password) <= PASSWORD_LENGTH_MAX)


def _pan_field(pan: str) -> bytes:
    if not (pan.isascii() and pan.isdigit()) or len(pan) < _PAN_LENGTH_MIN:
        raise PinBlockError("the card number must be 13 digits or more")
    return bytes.fromhex("0000" + pan[-13:-1])


def encode_clear_block(password: str, pan: str) -> bytes:
    """The clear format 0 block (8 bytes) of `password` for the card `pan`."""
    if not is_valid_password(password):
        raise PinBlockError(
            f"a card password is {PASSWORD_LENGTH_MIN}-{PASSWORD_LENGTH_MAX} digits")
    pin_field = bytes.fromhex(
        f"{_FORMAT_0:X}{len(password):X}{password}".ljust(PIN_BLOCK_HEX_SIZE, "F"))
    return bytes(a ^ b for a, b in zip(pin_field, _pan_field(pan), strict=True))


def decode_clear_block(block: bytes, pan: str) -> str:
    """The password in a clear format 0 block; PinBlockError when the block is not one
    (another format, a length outside 4-6, a non-digit, a fill other than F)."""
    if len(block) != PIN_BLOCK_SIZE_BYTES:
        raise PinBlockError("a PIN block is 8 bytes")
    nibbles = bytes(a ^ b for a, b in zip(block, _pan_field(pan), strict=True)).hex().upper()
    if int(nibbles[0], 16) != _FORMAT_0:
        raise PinBlockError("not a format 0 PIN block")
    length = int(nibbles[1], 16)
    if not PASSWORD_LENGTH_MIN <= length <= PASSWORD_LENGTH_MAX:
        raise PinBlockError("the PIN length is out of range")
    password, fill = nibbles[2:2 + length], nibbles[2 + length:]
    if not password.isdigit() or fill != f"{_FILL:X}" * len(fill):
        raise PinBlockError("the PIN block's digits or fill are malformed")
    return password


def encrypt_block(pin_key: bytes, password: str, pan: str) -> str:
    """Field 52: the format 0 block under the PIN session key, as 16 upper-case hex."""
    assert len(pin_key) == _KEY_SIZE_BYTES, "a double-length DES key"
    return DES3.new(pin_key, DES3.MODE_ECB).encrypt(
        encode_clear_block(password, pan)).hex().upper()


def decrypt_block(pin_key: bytes, block_hex: str, pan: str) -> str:
    """The password in field 52; PinBlockError for anything but a well-formed format 0 block."""
    assert len(pin_key) == _KEY_SIZE_BYTES, "a double-length DES key"
    try:
        block = bytes.fromhex(block_hex)
    except ValueError as exc:
        raise PinBlockError("field 52 is not hex") from exc
    if len(block) != PIN_BLOCK_SIZE_BYTES:
        raise PinBlockError("field 52 is not 16 hex")
    return decode_clear_block(DES3.new(pin_key, DES3.MODE_ECB).decrypt(block), pan)
