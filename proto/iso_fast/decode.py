"""Decode one ISO body in one pass, accepting exactly what pyiso8583 accepts under our spec.

pyiso8583's rules, as this module reproduces them (its decoder.py, version 4):
- every byte it consumes goes through an ASCII decode (MTI, bitmaps, length prefixes, data)
  and it rejects bytes left over, so a body with any non-ASCII byte is rejected whole;
- a bitmap is `bytes.fromhex` of its 16 characters, so lower case passes and whitespace
  between hex pairs shortens it (its bits then number from its first byte as decoded);
- a length prefix is `int()` of its characters: " 7", "+7", "-0" and "0_7" are lengths too;
  a negative one leaves data that cannot be that long, so it is rejected;
- bit 1 of the primary bitmap announces the secondary, bit 1 of the secondary (65) a
  tertiary whose set bits name fields the spec lacks (rejected); neither bit is a field.
proto.iso_codec's wrapper added one rule: the MTI is 4 ASCII digits.
"""

from __future__ import annotations

from proto.errors import IsoDecodeError
from proto.iso_fast.layout import (
    BITMAP_BYTES,
    BITMAP_HEX_SIZE,
    FIELD_NUMBER_MAX,
    LAYOUTS,
    MTI_SIZE,
    SECONDARY_BITMAP_FIELD,
    TERTIARY_BITMAP_FIELD,
    FieldLayout,
)

# Per bitmap (0 primary, 1 secondary, 2 tertiary), per byte of it, per value of that byte:
# the layouts of its data fields in order, or None when a set bit names a field the spec lacks.
_Group = tuple[FieldLayout, ...] | None
_BITMAP_IS_NOT_DATA = (SECONDARY_BITMAP_FIELD, TERTIARY_BITMAP_FIELD)


def _groups(first_number: int) -> list[_Group]:
    groups: list[_Group] = []
    for value in range(256):
        numbers = [first_number + bit for bit in range(8) if value & (0x80 >> bit)]
        numbers = [number for number in numbers if number not in _BITMAP_IS_NOT_DATA]
        known = all(number in LAYOUTS for number in numbers)
        groups.append(tuple(LAYOUTS[number] for number in numbers) if known else None)
    return groups


_TABLES = [
    [_groups(offset + 8 * index + 1) for index in range(BITMAP_BYTES)]
    for offset in range(0, FIELD_NUMBER_MAX, 64)
]


def decode_iso(body: bytes) -> dict[str, str]:
    """The fields of one message ("t" is the MTI; bitmaps are left out); any defect of MTI,
    bitmap or lengths is an IsoDecodeError."""
    if type(body) is not bytes:
        if not isinstance(body, (bytes, bytearray)):
            raise IsoDecodeError(f"an ISO body is bytes, not {type(body).__name__}")
        body = bytes(body)
    if not body.isascii():
        raise IsoDecodeError("a byte outside ASCII")
    text = body.decode("ascii")
    mti = text[:MTI_SIZE]
    if len(mti) != MTI_SIZE or not mti.isdigit():
        raise IsoDecodeError(f"MTI {mti!r} is not 4 digits")
    plan = _PLANS.get(text[MTI_SIZE:_PRIMARY_END]) or _PLANS.get(text[MTI_SIZE:_SECONDARY_END])
    if plan is None:
        plan = _plan(text)
        if len(_PLANS) < _PLANS_MAX and plan[0] <= _SECONDARY_END:
            _PLANS[text[MTI_SIZE:plan[0]]] = plan
    position, layouts = plan
    message = {"t": mti}
    for _, key, prefix_digits, size_max, _ in layouts:
        if prefix_digits:
            prefix = text[position:position + prefix_digits]
            size = _SIZES[prefix_digits].get(prefix)
            if size is None:
                size = _odd_size(prefix, prefix_digits, key)
            if size > size_max:
                raise IsoDecodeError(f"field {key}: length {size} (at most {size_max})")
            position += prefix_digits
        else:
            size = size_max
        end = position + size
        if end > len(text):
            raise IsoDecodeError(f"field {key}: {size} characters, the message ends first")
        message[key] = text[position:end]
        position = end
    if position != len(text):
        raise IsoDecodeError(f"{len(text) - position} characters after the last field")
    return message


# Where the data starts (after the bitmaps) and the layouts of the fields, in order.
_Plan = tuple[int, tuple[FieldLayout, ...]]
# Requests of one kind share their bitmaps, so a plan is worked out once per bitmap text (the
# primary, or primary + secondary: a plan is a function of the bitmaps' characters alone, and
# keys of 16 and 32 characters cannot collide). A few dozen kinds exist; the bound only keeps
# a stream of garbage from growing the cache.
_PLANS: dict[str, _Plan] = {}
_PLANS_MAX = 1024
_PRIMARY_END = MTI_SIZE + BITMAP_HEX_SIZE
_SECONDARY_END = _PRIMARY_END + BITMAP_HEX_SIZE
# Length prefixes as terminals write them (zero-padded digits) -> the length.
_SIZES = {
    digits: {f"{size:0{digits}d}": size for size in range(10 ** digits)}
    for digits in {layout.prefix_digits for layout in LAYOUTS.values()} if digits
}


def _plan(text: str) -> _Plan:
    layouts: list[FieldLayout] = []
    position = MTI_SIZE
    for table in _TABLES:
        bitmap = _bitmap(text, position)
        position += BITMAP_HEX_SIZE
        for index, value in enumerate(bitmap):
            if value:
                group = table[index][value]
                if group is None:
                    raise IsoDecodeError(f"bitmap at {position - BITMAP_HEX_SIZE} names a "
                                         "field outside the spec")
                layouts += group
        if not bitmap or bitmap[0] < 0x80:      # bit 1 clear: no further bitmap
            break
    return position, tuple(layouts)


def _bitmap(text: str, start: int) -> bytes:
    hex_text = text[start:start + BITMAP_HEX_SIZE]
    if len(hex_text) != BITMAP_HEX_SIZE:
        raise IsoDecodeError(f"bitmap at {start}: the message ends first")
    try:
        return bytes.fromhex(hex_text)
    except ValueError:
        raise IsoDecodeError(f"bitmap at {start}: {hex_text!r} is not hex") from None


def _odd_size(prefix: str, prefix_digits: int, key: str) -> int:
    """A prefix that is not zero-padded digits, read as pyiso8583 reads it: `int()`."""
    try:
        size = int(prefix)
    except ValueError:
        raise IsoDecodeError(f"field {key}: length {prefix!r} is not a number") from None
    if len(prefix) != prefix_digits or size < 0:
        raise IsoDecodeError(f"field {key}: length {prefix!r}")
    return size
