"""Random Luhn-valid card numbers under a BIN, a million in about a second of pure Python.

The Luhn sum of the BIN is computed once. The random part is cut into 4-digit chunks from the
right; a chunk starts at an even distance from the check digit's neighbour, so one table of
10,000 partial sums serves every full chunk, and a smaller one the leftover digits. Each
number then costs a few divisions and lookups. Randomness comes from os.urandom: card numbers
must not be predictable from earlier ones.
"""

from __future__ import annotations

import os

from proto.pan import luhn_check_digit

CHUNK_DIGITS = 4
_RANDOM_WORD_BYTES = 8  # one 64-bit word per number; its modulo bias is below 10^17 / 2^64
PAN_LENGTH_MIN = 16     # the schema's CHECK and the host interface's field 2
PAN_LENGTH_MAX = 19


def _luhn_term(digit: int, distance: int) -> int:
    """The digit's share of the Luhn sum; distance 0 is the digit left of the check digit."""
    if distance % 2:
        return digit
    doubled = digit * 2
    return doubled - 9 if doubled > 9 else doubled


def _chunk_table(digits: int) -> list[int]:
    table = []
    for value in range(10**digits):
        total, rest = 0, value
        for distance in range(digits):
            rest, digit = divmod(rest, 10)
            total += _luhn_term(digit, distance)
        table.append(total)
    return table


class PanGenerator:
    def __init__(self, bin_prefix: str, length: int) -> None:
        assert bin_prefix.isdigit() and PAN_LENGTH_MIN <= length <= PAN_LENGTH_MAX
        self.bin_prefix = bin_prefix
        self.random_digits = length - len(bin_prefix) - 1
        assert self.random_digits >= 1, "no room for random digits"
        self.space_size = 10**self.random_digits
        self._bin_sum = sum(_luhn_term(int(digit), self.random_digits + index)
                            for index, digit in enumerate(reversed(bin_prefix)))
        self._full_chunks, leftover = divmod(self.random_digits, CHUNK_DIGITS)
        self._chunk = _chunk_table(CHUNK_DIGITS)
        self._leftover = _chunk_table(leftover) if leftover else None

    def pan(self, value: int) -> str:
        """The PAN whose random part is `value` (0 <= value < space_size)."""
        total = self._bin_sum
        rest = value
        for _ in range(self._full_chunks):
            rest, chunk = divmod(rest, 10**CHUNK_DIGITS)
            total += self._chunk[chunk]
        if self._leftover is not None:
            total += self._leftover[rest]
        return f"{self.bin_prefix}{value:0{self.random_digits}d}{-total % 10}"

    def random_pans(self, count: int, exclude: set[str]) -> list[str]:
        """`count` distinct random PANs, none in `exclude` (which gains them)."""
        assert count + len(exclude) <= self.space_size
        fresh: list[str] = []
        while len(fresh) < count:
            words = memoryview(os.urandom(_RANDOM_WORD_BYTES * (count - len(fresh)))).cast("Q")
            self._draw(words, exclude, fresh)
        return fresh

    def _draw(self, words: memoryview, exclude: set[str], fresh: list[str]) -> None:
        """The hot loop of `pan`, with everything it reads in locals."""
        space_size, chunk_table, leftover = self.space_size, self._chunk, self._leftover
        bin_sum, full_chunks, chunk_size = self._bin_sum, range(self._full_chunks), 10**CHUNK_DIGITS
        template = f"{self.bin_prefix}{{:0{self.random_digits}d}}{{}}"
        for word in words:
            value = rest = word % space_size
            total = bin_sum
            for _ in full_chunks:
                rest, chunk = divmod(rest, chunk_size)
                total += chunk_table[chunk]
            if leftover is not None:
                total += leftover[rest]
            pan = template.format(value, -total % 10)
            if pan not in exclude:
                exclude.add(pan)
                fresh.append(pan)


def check_digit_agrees(pan: str) -> bool:
    """The slow reference, for tests: the generator's check digit is proto.pan's."""
    return luhn_check_digit(pan[:-1]) == pan[-1]
