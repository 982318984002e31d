"""Each field's layout, read once from proto.iso_spec at import.

The fast codec takes the shape of pyiso8583's default_ascii: no header, a 4-character MTI,
bitmaps of 16 hex characters, data in ASCII with a fixed width or an ASCII LL/LLL prefix
counting bytes. A spec outside that shape stops the import here rather than letting the fast
codec part ways with pyiso8583 (which would then be the only codec that reads it right).
"""

from __future__ import annotations

from typing import NamedTuple

from proto.iso_spec import SPEC

MTI_SIZE = 4
BITMAP_HEX_SIZE = 16
BITMAP_BYTES = 8
# pyiso8583 numbers fields 1-192: primary, secondary and tertiary bitmaps of 64 bits each.
FIELD_NUMBER_MAX = 192
SECONDARY_BITMAP_FIELD = 1      # bit 1 of the primary: a secondary bitmap follows
TERTIARY_BITMAP_FIELD = 65      # bit 1 of the secondary: a tertiary bitmap follows


class FieldLayout(NamedTuple):
    number: int
    key: str              # the field's key in a message: "2" .. "128"
    prefix_digits: int    # 0 for a fixed width, else the digits of its LL/LLL length prefix
    size_max: int         # the fixed width, or the most a prefix may announce
    bit: int              # the field's bit in the 128-bit primary + secondary bitmap


def _check_shape() -> None:
    assert SPEC["h"]["max_len"] == 0, "no message header"
    for key, size in (("t", MTI_SIZE), ("p", BITMAP_HEX_SIZE), ("1", BITMAP_HEX_SIZE)):
        frame_field = SPEC[key]
        assert frame_field["data_enc"] == "ascii" and frame_field["len_type"] == 0, key
        assert frame_field["max_len"] == size, key
    for number in range(2, FIELD_NUMBER_MAX + 1):
        field = SPEC.get(str(number))
        if field is None:
            continue
        assert field["data_enc"] == "ascii" and field["len_enc"] == "ascii", number
        assert field.get("len_count", "bytes") == "bytes", number
        assert field["len_type"] >= 0 and field["max_len"] >= 0, number
        # Every length the spec allows fits its prefix, as pyiso8583 would otherwise refuse.
        assert field["len_type"] == 0 or field["max_len"] < 10 ** field["len_type"], number


def _layouts() -> dict[int, FieldLayout]:
    """Data fields by number; the bitmap bits 1 and 65 are never data (pyiso8583 drops them)."""
    layouts = {}
    for number in range(2, FIELD_NUMBER_MAX + 1):
        field = SPEC.get(str(number))
        if field is None or number == TERTIARY_BITMAP_FIELD:
            continue
        bit = 1 << (128 - number) if number <= 128 else 0
        layouts[number] = FieldLayout(
            number, str(number), field["len_type"], field["max_len"], bit)
    return layouts


_check_shape()
LAYOUTS = _layouts()
assert all(number <= 128 for number in LAYOUTS), "tertiary fields are outside the fast path"
