"""Line faults of the modem emulator: carrier drop at a chosen byte, noise, a corrupted LRC.

Faults act on the bytes travelling towards one side. To place noise before a frame and find a
frame's LRC, a FrameTracker follows the dial-up framing in the relayed bytes.
"""

from __future__ import annotations

import msgspec

from proto.dialup_framing import ACK, NAK, STX, BcdDigitError, decode_bcd_length

# Line noise without STX, ACK or NAK: a noise byte equal to one of them is indistinguishable
# from the real thing (the LRC and the resends deal with that), so the test noise avoids them.
NOISE_DEFAULT = bytes((0x00, 0xFF, 0x7F, 0x80, 0x55, 0xAA, 0x11, 0x13))
assert not {STX, ACK, NAK} & set(NOISE_DEFAULT)


class Faults(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Faults armed again at every connect, for the bytes towards one side."""

    # Drop the carrier after this many bytes of the call have reached the side.
    drop_carrier_after_bytes: int | None = None
    # Corrupt the LRC of the first N frames of the call.
    corrupt_lrc_frames: int = 0
    # Noise put on the line before each frame of the call.
    noise: bytes = b""


class FrameTracker:
    """Where each byte of a stream falls in the dial-up framing: "stx", "lrc" or "data"."""

    def __init__(self) -> None:
        self._state = "hunt"
        self._length = bytearray()
        self._left = 0

    def feed(self, byte: int) -> str:
        if self._state == "hunt":
            if byte == STX:
                self._state = "length"
                return "stx"
            return "data"
        if self._state == "length":
            self._length.append(byte)
            if len(self._length) == 2:
                self._start_payload()
            return "data"
        if self._state == "payload":
            self._left -= 1
            if self._left == 0:
                self._state = "lrc"
            return "data"
        self._state = "hunt"
        return "lrc"

    def _start_payload(self) -> None:
        try:
            length = decode_bcd_length(bytes(self._length))
        except BcdDigitError:
            length = -1
        self._length.clear()
        if length < 0:
            self._state = "hunt"
        else:
            self._left = length + 1  # the payload and ETX
            self._state = "payload"


class FaultState:
    """The faults now armed for the bytes towards one side."""

    def __init__(self) -> None:
        self.drop_after_bytes: int | None = None
        self.corrupt_lrc_frames = 0
        self.noise = b""
        self.noise_frames = 0  # frames still to get noise before them; -1: every frame
        self._tracker = FrameTracker()

    def arm(self, faults: Faults) -> None:
        """A new call: the per-call faults, and a fresh view of the framing."""
        self.drop_after_bytes = faults.drop_carrier_after_bytes
        self.corrupt_lrc_frames = faults.corrupt_lrc_frames
        self.noise, self.noise_frames = faults.noise, (-1 if faults.noise else 0)
        self._tracker = FrameTracker()

    def apply(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes as the line delivers them, and True when the carrier drops after them."""
        out = bytearray()
        for byte in data:
            if self.drop_after_bytes == 0:
                return bytes(out), True
            position = self._tracker.feed(byte)
            if position == "stx" and self.noise_frames:
                out += self.noise
                self.noise_frames -= 1 if self.noise_frames > 0 else 0
            elif position == "lrc" and self.corrupt_lrc_frames > 0:
                byte ^= 0xFF
                self.corrupt_lrc_frames -= 1
            out.append(byte)
            if self.drop_after_bytes is not None:
                self.drop_after_bytes -= 1
        return bytes(out), self.drop_after_bytes == 0
