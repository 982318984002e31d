"""Checks of a member's fields as operators type them; each failure names the field."""

from __future__ import annotations

import re
from datetime import date

from back_office.provisioning.errors import InvalidValueError

NAME_LENGTH_MAX = 64
# Mainland China mobile numbers: 11 digits, 1 then 3-9.
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# GB 11643-1999: 17 digits and a check character (0-9 or X).
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARACTERS = "10X98765432"


def name(value: str) -> str:
    value = value.strip()
    if not value or len(value) > NAME_LENGTH_MAX:
        raise InvalidValueError(f"a name has 1 to {NAME_LENGTH_MAX} characters")
    if any(not character.isprintable() for character in value):
        raise InvalidValueError("a name has no control characters")
    return value


def mobile(value: str) -> str:
    value = value.strip().replace(" ", "").replace("-", "")
    value = value.removeprefix("+86")
    if not _MOBILE.fullmatch(value):
        raise InvalidValueError("a mobile number has 11 digits and starts 13 to 19")
    return value


def mask_mobile(value: str) -> str:
    return f"{value[:3]}****{value[-4:]}"


def id_number(value: str) -> str:
    """A resident ID number (18 characters) whose check character is right."""
    value = value.strip().upper()
    if not _ID_NUMBER.fullmatch(value):
        raise InvalidValueError("an ID number has 17 digits and a check digit or X")
    total = sum(int(digit) * weight for digit, weight in zip(value[:17], _ID_WEIGHTS,
                                                               strict=True))
    if _ID_CHECK_CHARACTERS[total % 11] != value[17]:
        raise InvalidValueError("the ID number's check character is wrong: mistyped?")
    return value


def mask_id_number(value: str) -> str:
    return f"{value[:3]}{'*' * 11}{value[-4:]}"


def birthday(value: str, today: date) -> date:
    try:
        parsed = date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidValueError(f"birthday {value!r} is not YYYY-MM-DD") from exc
    if not date(1900, 1, 1) <= parsed <= today:
        raise InvalidValueError("a birthday lies between 1900-01-01 and today")
    return parsed
