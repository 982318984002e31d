"""Checks of operator input, each with a message that says what is expected."""

from __future__ import annotations

import re
import zoneinfo
from datetime import time

from Crypto.Cipher import DES3

from back_office.provisioning.errors import InvalidValueError

_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

ALLIANCE_CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # the schema's CHECK
MERCHANT_CODE_LENGTH = 15  # ISO field 42, ans15
TERMINAL_CODE_LENGTH = 8   # ISO field 41, ans8
NAME_LENGTH_MAX = 200      # names print on receipts and reports, not essays
TMK_SIZE_BYTES = 16        # a double-length triple-DES key (host interface §7)
RATE_MAX = 1_000_000       # points per yuan: far above any programme, far below overflow


def alliance_code(code: str) -> str:
    if not ALLIANCE_CODE_PATTERN.match(code):
        raise InvalidValueError(
            f"alliance code {code!r} must be 1-32 letters, digits, '_' or '-'"
        )
    return code


def _printable_code(code: str, length: int, what: str, field: str) -> str:
    if len(code) != length:
        raise InvalidValueError(f"{what} code {code!r} must be exactly {length} characters "
                                f"(ISO field {field}), not {len(code)}")
    if not (code.isascii() and code.isprintable()):
        raise InvalidValueError(f"{what} code {code!r} must be printable ASCII")
    return code


def merchant_code(code: str) -> str:
    return _printable_code(code, MERCHANT_CODE_LENGTH, "merchant", "42")


def terminal_code(code: str) -> str:
    return _printable_code(code, TERMINAL_CODE_LENGTH, "terminal", "41")


def name(text: str) -> str:
    text = text.strip()
    if not text or len(text) > NAME_LENGTH_MAX:
        raise InvalidValueError(f"name must be 1-{NAME_LENGTH_MAX} characters")
    return text


def timezone(text: str) -> str:
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidValueError(f"unknown time zone {text!r} (e.g. Asia/Shanghai)") from exc
    return text


def cutover(text: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise InvalidValueError(f"cutover {text!r} must be a local time HH:MM, e.g. 23:00")
    return time(int(match[1]), int(match[2]))


def rate(value: int, what: str, minimum: int) -> int:
    if not minimum <= value <= RATE_MAX:
        raise InvalidValueError(f"{what} must be between {minimum} and {RATE_MAX}, not {value}")
    return value


def category(text: str) -> str:
    """A merchant category code (the earn rules' `rates.categories` keys)."""
    if not _CATEGORY.match(text):
        raise InvalidValueError(f"a category is 1-32 lower-case letters, digits or '_',"
                                f" starting with a letter, not {text!r}")
    return text


def tmk_hex(text: str) -> bytes:
    """A TMK given as 32 hex digits; its halves must differ, or triple-DES is single DES."""
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise InvalidValueError("TMK must be hex digits (32 of them)") from exc
    if len(key) != TMK_SIZE_BYTES:
        raise InvalidValueError(f"TMK must be 32 hex digits (16 bytes), not {len(text)}")
    try:
        DES3.adjust_key_parity(key)
    except ValueError as exc:  # the halves equal but for parity bits
        raise InvalidValueError("TMK halves are equal: that is single DES, not triple-DES") \
            from exc
    return key


def bin_digits(text: str, what: str = "BIN") -> str:
    if not (text.isascii() and text.isdigit() and 1 <= len(text) <= 12):
        raise InvalidValueError(f"{what} {text!r} must be 1-12 digits")
    return text
