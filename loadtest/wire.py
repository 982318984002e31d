"""The generator's fast path on the wire: requests from pre-encoded templates, and answers read
only as far as the generator needs (MTI, 11, 39, 41).

The generator shares two cores with the system it measures, so every microsecond it spends is
taken from the system. pyiso8583 costs about 50 µs per encode or decode; here a request is a
copy of its template with a few fixed-width slots patched (card, STAN, times), and an answer is
read by walking its bitmap up to field 41. Both are tested against pyiso8583
(tests/loadtest/test_wire.py), so they cannot drift from the codec the system uses.
"""

from __future__ import annotations

import time

import msgspec

from proto.framing import TPDU_SIZE, Tpdu
from proto.iso_codec import IsoMessage, encode_iso
from proto.iso_spec import SPEC

LENGTH_SIZE = 2                  # the frame's LEN prefix
BODY_OFFSET = LENGTH_SIZE + TPDU_SIZE
MTI_SIZE = 4
BITMAP_HEX_SIZE = 16             # default_ascii: each bitmap is 16 upper-case hex characters
FIELD_STAN = 11
FIELD_RESPONSE_CODE = 39
FIELD_TERMINAL = 41
STAN_SIZE = 6
TERMINAL_CODE_SIZE = 8
# The slots a request template patches: field -> its fixed width in characters.
SLOT_WIDTHS = {"7": 10, "11": STAN_SIZE, "12": 6, "13": 4}

# Per field number: 0 for a fixed width (then `width`), else the digits of its LL/LLL prefix.
_LENGTH_DIGITS = [0] * 129
_WIDTH = [0] * 129
for _number in range(2, 129):
    _LENGTH_DIGITS[_number] = SPEC[str(_number)]["len_type"]
    _WIDTH[_number] = SPEC[str(_number)]["max_len"]
assert all(SPEC[str(n)]["data_enc"] == "ascii" for n in range(1, 129)), "1 byte per character"
assert _LENGTH_DIGITS[FIELD_STAN] == 0 and _LENGTH_DIGITS[FIELD_TERMINAL] == 0


class AnswerHead(msgspec.Struct, frozen=True):
    """What the generator checks of an answer: its MTI, STAN, response code and terminal."""

    mti: bytes
    stan: bytes
    response_code: bytes        # b"" when the answer has no field 39
    terminal_code: bytes        # b"" when the answer has no field 41


def read_answer_head(body: bytes) -> AnswerHead | None:
    """MTI, 11, 39 and 41 of an ISO body, walking the bitmap; None when it is not well formed
    up to field 41 (the caller counts that as an error and may decode it fully to show it)."""
    try:
        return _read_answer_head(body)
    except (ValueError, IndexError):
        return None


def _read_answer_head(body: bytes) -> AnswerHead | None:
    primary = body[MTI_SIZE:MTI_SIZE + BITMAP_HEX_SIZE]
    plan = _PLANS.get(primary)
    if plan is None:
        plan = _plan(primary)
        if len(_PLANS) < _PLANS_MAX:
            _PLANS[primary] = plan
    position, fields = plan
    stan = response_code = terminal_code = b""
    for number, digits, width in fields:
        if digits:
            length_text = body[position:position + digits]
            if len(length_text) != digits or not length_text.isdigit():
                return None
            position += digits
            width = int(length_text)
        end = position + width
        if number == FIELD_STAN:
            stan = body[position:end]
        elif number == FIELD_RESPONSE_CODE:
            response_code = body[position:end]
        elif number == FIELD_TERMINAL:
            terminal_code = body[position:end]
        position = end
    mti = body[:MTI_SIZE]
    if position > len(body) or len(mti) != MTI_SIZE or not mti.isdigit() or not stan:
        return None
    return AnswerHead(mti, stan, response_code, terminal_code)


# Answers of one kind share a bitmap, so the fields to walk are worked out once per primary
# bitmap:
# (where field 2 starts, ((number, length digits, width), ...) for the fields up to 41).
_Plan = tuple[int, tuple[tuple[int, int, int], ...]]
_PLANS: dict[bytes, _Plan] = {}
# A handful of answer kinds; the bound only keeps a stream of garbage from growing the cache.
_PLANS_MAX = 256


def _plan(primary: bytes) -> _Plan:
    """Raises ValueError when the bitmap is not hex. A secondary bitmap (fields 65-128) is
    skipped: it says nothing about the fields up to 41."""
    if len(primary) != BITMAP_HEX_SIZE:
        raise ValueError("short bitmap")
    bitmap = int(primary, 16)
    position = MTI_SIZE + BITMAP_HEX_SIZE
    if bitmap >> 63:            # bit 1: a secondary bitmap follows
        position += BITMAP_HEX_SIZE
    fields = tuple(
        (number, _LENGTH_DIGITS[number], _WIDTH[number])
        for number in range(2, FIELD_TERMINAL + 1) if (bitmap >> (64 - number)) & 1
    )
    return position, fields


class RequestTemplate:
    """One kind of request from one terminal, encoded once; `render` patches the slots.

    The card number's slot exists when the template has field 2; every card rendered into it
    must have the template's card length (a template per length)."""

    __slots__ = ("_frame", "_pan_slot", "_stan_slot", "_time_slot", "_local_slot", "answer_mti")

    def __init__(self, fields: IsoMessage, tpdu: Tpdu) -> None:
        for name, width in SLOT_WIDTHS.items():
            assert name not in fields or len(fields[name]) == width, f"field {name} width"
        body = encode_iso(fields)
        offsets = _field_offsets(fields, body)
        self._frame = bytearray(
            (TPDU_SIZE + len(body)).to_bytes(LENGTH_SIZE, "big") + tpdu.encode() + body)
        self._pan_slot = _slot(offsets, "2", len(fields.get("2", "")))
        stan_slot = _slot(offsets, "11", STAN_SIZE)
        self._time_slot = _slot(offsets, "7", 10)
        # 12 (hhmmss) and 13 (MMDD) are neighbours: one slot of 10 characters.
        self._local_slot = _slot(offsets, "12", 10) if "13" in fields else None
        assert stan_slot is not None, "every request has a STAN"
        self._stan_slot = stan_slot
        self.answer_mti = f"{int(fields['t']) + 10:04d}".encode()

    def render(self, pan: bytes, stan: bytes, times: ClockFields) -> bytearray:
        """The frame (LEN + TPDU + body) with this card, STAN and clock."""
        frame = self._frame.copy()
        start, end = self._stan_slot
        frame[start:end] = stan
        if self._pan_slot is not None:
            start, end = self._pan_slot
            frame[start:end] = pan
        if self._time_slot is not None:
            start, end = self._time_slot
            frame[start:end] = times.transmission
        if self._local_slot is not None:
            start, end = self._local_slot
            frame[start:end] = times.local
        return frame


class ClockFields(msgspec.Struct, frozen=True):
    transmission: bytes     # field 7, MMDDhhmmss UTC
    local: bytes            # fields 12 and 13 together: hhmmss then MMDD


def clock_fields(utc_seconds: int) -> ClockFields:
    """Field 7 and fields 12+13 for a whole UTC second (terminals here keep UTC)."""
    moment = time.gmtime(utc_seconds)
    month_day = b"%02d%02d" % (moment.tm_mon, moment.tm_mday)
    clock = b"%02d%02d%02d" % (moment.tm_hour, moment.tm_min, moment.tm_sec)
    return ClockFields(month_day + clock, clock + month_day)


def _field_offsets(fields: IsoMessage, body: bytes) -> dict[str, int]:
    """Where each field's data starts in the frame (after LEN and TPDU)."""
    numbers = sorted(int(name) for name in fields if name != "t")
    position = MTI_SIZE + BITMAP_HEX_SIZE * (2 if numbers[-1] > 64 else 1)
    offsets = {}
    for number in numbers:
        position += _LENGTH_DIGITS[number]
        offsets[str(number)] = BODY_OFFSET + position
        position += len(fields[str(number)])
    assert position == len(body), "the template's layout is the codec's"
    return offsets


def _slot(offsets: dict[str, int], name: str, width: int) -> tuple[int, int] | None:
    if name not in offsets:
        return None
    return offsets[name], offsets[name] + width
