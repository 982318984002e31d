"""Encode one message to the bytes pyiso8583 gives, with its errors as IsoEncodeError.

The fast path takes the messages we build: a dict whose keys are "t", field numbers as
pyiso8583 writes them ("2" .. "128") or names it ignores, and whose values are strings. Other
inputs ("02", 129, a value that is not a string) go to the pyiso8583 reference, so that they
too get its exact bytes or its exact exception, however odd.
"""

from __future__ import annotations

from proto.errors import IsoEncodeError
from proto.iso_fast.layout import LAYOUTS, MTI_SIZE, SECONDARY_BITMAP_FIELD
from proto.iso_fast.reference import encode_iso_reference

_LAYOUTS_BY_KEY = {layout.key: layout for layout in LAYOUTS.values()}
# pyiso8583 drops these keys before encoding: it computes the bitmaps itself.
_DROPPED_KEYS = frozenset({"1", "65"})
# The length prefix of every size a field allows, by number of digits.
_PREFIXES = {
    digits: [f"{size:0{digits}d}" for size in range(10 ** digits)]
    for digits in {layout.prefix_digits for layout in LAYOUTS.values()} if digits
}
_SECONDARY_BIT = 1 << (128 - SECONDARY_BITMAP_FIELD)
_SECONDARY_MASK = (1 << 64) - 1


def encode_iso(message: dict[str, str]) -> bytes:
    """Bytes of a message we built; bitmaps are computed here."""
    if type(message) is not dict:
        return encode_iso_reference(message)
    mti = message.get("t")
    if mti is None:
        raise IsoEncodeError("Field data is required: field t")
    keys = tuple(message)
    plan = _PLANS.get(keys)
    if plan is None:
        plan = _plan(keys)
        if len(_PLANS) < _PLANS_MAX:
            _PLANS[keys] = plan
    bitmaps, layouts = plan
    if not bitmaps or not isinstance(mti, str):
        return encode_iso_reference(message)
    if len(mti) != MTI_SIZE:
        raise IsoEncodeError(f"Field data is {len(mti)} bytes, expecting {MTI_SIZE}: field t")
    parts = [mti, bitmaps]
    for key, prefix_digits, size_max in layouts:
        value = message[key]
        if not isinstance(value, str):
            return encode_iso_reference(message)
        size = len(value)
        if prefix_digits:
            if size > size_max:
                raise IsoEncodeError(
                    f"Field data is {size} bytes, larger than maximum {size_max}: field {key}")
            parts.append(_PREFIXES[prefix_digits][size])
        elif size != size_max:
            raise IsoEncodeError(f"Field data is {size} bytes, expecting {size_max}: field {key}")
        parts.append(value)
    try:
        return "".join(parts).encode("ascii")
    except UnicodeEncodeError:
        raise IsoEncodeError("Failed to encode field, invalid data: a character outside "
                             "ASCII") from None


# The bitmaps' text ("" when the keys are outside the fast path's shape) and the fields to
# write, in order: a function of the message's keys alone, so worked out once per tuple of
# keys. Messages come in a few dozen shapes; the bound keeps odd callers from growing it.
_Plan = tuple[str, tuple[tuple[str, int, int], ...]]
_PLANS: dict[tuple[str, ...], _Plan] = {}
_PLANS_MAX = 1024


def _plan(keys: tuple[str, ...]) -> _Plan:
    layouts = []
    for key in keys:
        layout = _LAYOUTS_BY_KEY.get(key)
        if layout is not None:
            layouts.append(layout)
        elif type(key) is not str or (key not in _DROPPED_KEYS and key.isnumeric()):
            return "", ()           # "02", "129", 3: the reference encodes these
        # else "t", "p", "h" or a name pyiso8583 ignores
    layouts.sort()
    bitmap = 0
    for layout in layouts:
        bitmap |= layout.bit
    if bitmap & _SECONDARY_MASK:
        bitmaps = "%032X" % (bitmap | _SECONDARY_BIT)
    else:
        bitmaps = "%016X" % (bitmap >> 64)
    return bitmaps, tuple((layout.key, layout.prefix_digits, layout.size_max)
                          for layout in layouts)
