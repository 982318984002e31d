"""Card numbers: Luhn check digits and masking for logs (first 6, last 4)."""

from typing import overload


def luhn_check_digit(partial: str) -> str:
    """The digit that makes `partial` + digit Luhn-valid."""
    total = 0
    for index, char in enumerate(reversed(partial)):
        digit = ord(char) - 48
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(pan: str) -> bool:
    return len(pan) >= 2 and pan.isdigit() and luhn_check_digit(pan[:-1]) == pan[-1]


@overload
def mask_pan(pan: str) -> str: ...
@overload
def mask_pan(pan: None) -> None: ...
@overload
def mask_pan(pan: str | None) -> str | None: ...
def mask_pan(pan: str | None) -> str | None:
    """First 6 and last 4 digits; anything shorter than 11 characters is masked whole."""
    if pan is None:
        return None
    if len(pan) < 11:
        return "*" * len(pan)
    return f"{pan[:6]}{'*' * (len(pan) - 10)}{pan[-4:]}"
