"""Dial-up framing of the host interface (§1): STX | LEN (2 bytes BCD) | TPDU + ISO | ETX | LRC.

LEN counts the TPDU and the ISO message; LRC is the XOR of every byte after STX up to and
including ETX. The receiver answers ACK to a good frame and NAK to a bad one; bytes before STX
are line noise. Like `proto.framing`, this module knows nothing of the ISO body.

`DialupDecoder` is sans-IO: it turns the bytes of a line, in chunks of any size, into events
(a frame, an ACK or NAK, skipped noise, a rejected frame). Timeouts belong to whoever reads the
line: when the line goes quiet inside a frame, `abort()` rejects it as truncated.

Errors (rejected frames; the receiver NAKs each):

    proto.errors.FramingError
    └── DialupFrameError            a dial-up frame is bad
        ├── BcdDigitError           a LEN nibble above 9
        ├── DialupLengthError       LEN above the limit or below a TPDU and an MTI
        ├── EtxError                the byte after LEN bytes of payload is not ETX
        ├── LrcError                the LRC does not match
        └── TruncatedFrameError     the bytes (or the line) ended inside a frame
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from proto.errors import FramingError
from proto.framing import FRAME_SIZE_MAX, FRAME_SIZE_MIN

STX = 0x02
ETX = 0x03
ACK = 0x06
NAK = 0x15
LENGTH_SIZE = 2
# STX, LEN, ETX and LRC around the payload.
FRAME_OVERHEAD = 1 + LENGTH_SIZE + 1 + 1
# The same limits as TCP: a TPDU and an MTI at least, 2048 bytes at most.
PAYLOAD_SIZE_MIN = FRAME_SIZE_MIN
PAYLOAD_SIZE_MAX = FRAME_SIZE_MAX
# Four BCD digits cannot say more.
BCD_LENGTH_MAX = 9999


class DialupFrameError(FramingError):
    """A bad frame. `reason` labels metrics; `extent_known` is False when the receiver cannot
    tell where the bad frame ends, so it must wait for the line to go quiet before it NAKs."""

    reason: ClassVar[str] = "frame"
    extent_known: ClassVar[bool] = False


class BcdDigitError(DialupFrameError):
    reason = "bcd"


class DialupLengthError(DialupFrameError):
    reason = "length"


class EtxError(DialupFrameError):
    reason = "etx"


class LrcError(DialupFrameError):
    reason = "lrc"
    extent_known = True


class TruncatedFrameError(DialupFrameError):
    reason = "truncated"
    extent_known = True  # the line went quiet: nothing of it is left to skip


def lrc(data: bytes) -> int:
    """XOR of `data` (LEN + payload + ETX)."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def encode_bcd_length(length: int) -> bytes:
    """125 -> 0x01 0x25."""
    if not 0 <= length <= BCD_LENGTH_MAX:
        raise DialupLengthError(f"length {length} does not fit four BCD digits")
    return bytes.fromhex(f"{length:04d}")


def decode_bcd_length(data: bytes) -> int:
    assert len(data) == LENGTH_SIZE, "LEN is two bytes"
    digits = data.hex()
    if not digits.isdigit():
        raise BcdDigitError(f"LEN {digits.upper()} is not BCD")
    return int(digits)


def encode_dialup_frame(payload: bytes, payload_size_max: int = PAYLOAD_SIZE_MAX) -> bytes:
    """STX + LEN + payload (TPDU + ISO message) + ETX + LRC."""
    if not PAYLOAD_SIZE_MIN <= len(payload) <= min(payload_size_max, BCD_LENGTH_MAX):
        raise DialupLengthError(f"payload of {len(payload)} bytes is out of range")
    checked = encode_bcd_length(len(payload)) + payload + bytes((ETX,))
    return bytes((STX,)) + checked + bytes((lrc(checked),))


def decode_dialup_frame(data: bytes, payload_size_max: int = PAYLOAD_SIZE_MAX) -> bytes:
    """The payload of exactly one frame in `data` (noise before STX is skipped, as on a line).

    Raises the frame's DialupFrameError; TruncatedFrameError when `data` ends inside the frame
    or holds no STX; DialupFrameError when bytes follow the frame.
    """
    decoder = DialupDecoder(payload_size_max)
    events = decoder.feed(data)
    aborted = decoder.abort()
    if aborted is not None:
        events.append(aborted)
    frames = [event for event in events if not isinstance(event, NoiseSkipped)]
    if not frames:
        raise TruncatedFrameError("no frame in the data")
    first = frames[0]
    if isinstance(first, FrameRejected):
        raise first.error
    if not isinstance(first, FrameReceived):
        raise TruncatedFrameError(f"no frame in the data, only {first!r}")
    if len(frames) > 1 or events[-1] is not first:
        raise DialupFrameError("bytes follow the frame")
    return first.payload


# ---- events of the decoder --------------------------------------------------------------


class FrameReceived(msgspec.Struct, frozen=True):
    payload: bytes  # TPDU + ISO message


class ControlReceived(msgspec.Struct, frozen=True):
    byte: int  # ACK or NAK, outside any frame


class NoiseSkipped(msgspec.Struct, frozen=True):
    size: int  # bytes before STX that were neither STX, ACK nor NAK


class FrameRejected(msgspec.Struct, frozen=True):
    error: DialupFrameError


DialupEvent = FrameReceived | ControlReceived | NoiseSkipped | FrameRejected

_HUNT, _LENGTH, _PAYLOAD, _ETX, _LRC = range(5)


class DialupDecoder:
    """Bytes of a line in, events out; chunk boundaries never change the events."""

    def __init__(self, payload_size_max: int = PAYLOAD_SIZE_MAX) -> None:
        assert PAYLOAD_SIZE_MIN <= payload_size_max <= BCD_LENGTH_MAX
        self._payload_size_max = payload_size_max
        self._state = _HUNT
        self._length = bytearray()
        self._payload = bytearray()
        self._payload_size = 0

    @property
    def in_frame(self) -> bool:
        """True between an STX and its LRC: the reader's inter-byte timeout applies."""
        return self._state != _HUNT

    def abort(self) -> FrameRejected | None:
        """The line went quiet (or the data ended): a frame in progress is truncated."""
        if self._state == _HUNT:
            return None
        state, received = self._state, len(self._payload)
        self._reset()
        return FrameRejected(TruncatedFrameError(
            f"line quiet in a frame (state {state}, {received} payload bytes)"))

    def feed(self, data: bytes) -> list[DialupEvent]:
        events: list[DialupEvent] = []
        noise = 0
        index, size = 0, len(data)
        while index < size:
            if self._state == _HUNT:
                byte = data[index]
                index += 1
                if byte in (STX, ACK, NAK):
                    if noise:
                        events.append(NoiseSkipped(noise))
                        noise = 0
                    if byte == STX:
                        self._state = _LENGTH
                    else:
                        events.append(ControlReceived(byte))
                else:
                    noise += 1
            elif self._state == _PAYLOAD:
                take = min(self._payload_size - len(self._payload), size - index)
                self._payload += data[index:index + take]
                index += take
                if len(self._payload) == self._payload_size:
                    self._state = _ETX
            else:
                event = self._header_or_trailer(data[index])
                index += 1
                if event is not None:
                    events.append(event)
        if noise:
            events.append(NoiseSkipped(noise))
        return events

    def _header_or_trailer(self, byte: int) -> DialupEvent | None:
        """One byte of LEN, the ETX or the LRC."""
        if self._state == _LENGTH:
            self._length.append(byte)
            if len(self._length) < LENGTH_SIZE:
                return None
            return self._start_payload()
        if self._state == _ETX:
            if byte != ETX:
                self._reset()
                return FrameRejected(EtxError(f"byte 0x{byte:02X} where ETX was due"))
            self._state = _LRC
            return None
        assert self._state == _LRC
        checked = bytes(self._length) + bytes(self._payload) + bytes((ETX,))
        payload = bytes(self._payload)
        self._reset()
        expected = lrc(checked)
        if byte != expected:
            return FrameRejected(LrcError(f"LRC 0x{byte:02X}, expected 0x{expected:02X}"))
        return FrameReceived(payload)

    def _start_payload(self) -> FrameRejected | None:
        try:
            length = decode_bcd_length(bytes(self._length))
        except BcdDigitError as exc:
            self._reset()
            return FrameRejected(exc)
        if not PAYLOAD_SIZE_MIN <= length <= self._payload_size_max:
            self._reset()
            return FrameRejected(DialupLengthError(
                f"LEN {length} is outside {PAYLOAD_SIZE_MIN}-{self._payload_size_max}"))
        self._payload_size = length
        self._state = _PAYLOAD
        return None

    def _reset(self) -> None:
        self._state = _HUNT
        self._length.clear()
        self._payload = bytearray()
        self._payload_size = 0
