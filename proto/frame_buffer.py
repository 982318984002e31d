"""Frames cut from a byte buffer as bytes arrive (TCP framing of §1, without waiting).

The async `read_frame` waits for each part of a frame in turn; a reader serving pipelined
terminals often has whole frames already received, and takes them here without a wait or a
timeout of its own. Length and TPDU are checked as soon as their bytes are in.
"""

from __future__ import annotations

from proto.framing import FRAME_SIZE_MAX, TPDU_SIZE, Tpdu, check_length, decode_tpdu

_LEN_SIZE = 2


class FrameBuffer:
    """Bytes received and not yet taken as frames. Bounded: a frame is at most
    `frame_size_max` + 2 bytes, and what `feed` adds is what one receive returned."""

    def __init__(self, frame_size_max: int = FRAME_SIZE_MAX) -> None:
        self._data = bytearray()
        self._frame_size_max = frame_size_max

    def __len__(self) -> int:
        return len(self._data)

    def feed(self, chunk: bytes) -> None:
        self._data += chunk

    def take(self) -> tuple[Tpdu, bytes] | None:
        """The frame at the head of the buffer, or None while it is incomplete. Raises
        FrameSizeError or TpduError as soon as the bytes that show it are in."""
        data = self._data
        if len(data) < _LEN_SIZE:
            return None
        length = int.from_bytes(data[:_LEN_SIZE], "big")
        check_length(length, self._frame_size_max)
        if len(data) < _LEN_SIZE + TPDU_SIZE:
            return None
        tpdu = decode_tpdu(bytes(data[_LEN_SIZE:_LEN_SIZE + TPDU_SIZE]))
        end = _LEN_SIZE + length
        if len(data) < end:
            return None
        body = bytes(data[_LEN_SIZE + TPDU_SIZE:end])
        del data[:end]
        return tpdu, body
