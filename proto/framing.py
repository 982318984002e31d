"""TCP framing of the host interface (§1): LEN (2 bytes, big-endian) | TPDU (5) | ISO message.

Only length and TPDU are handled here; the ISO body is the codec's business.
"""

from __future__ import annotations

import msgspec
from anyio.streams.buffered import BufferedByteReceiveStream

from proto.errors import FrameSizeError, TpduError

TPDU_ID = 0x60
TPDU_SIZE = 5
MTI_SIZE = 4
# The spec's limit on LEN; a larger value is a framing error.
FRAME_SIZE_MAX = 2048
# A TPDU and an MTI: anything shorter cannot be a message.
FRAME_SIZE_MIN = TPDU_SIZE + MTI_SIZE


class Tpdu(msgspec.Struct, frozen=True, array_like=True):
    destination_nii: int
    source_nii: int

    def swapped(self) -> Tpdu:
        """The answer's TPDU: destination and source exchanged."""
        return Tpdu(self.source_nii, self.destination_nii)

    def encode(self) -> bytes:
        return bytes((TPDU_ID,)) + self.destination_nii.to_bytes(2, "big") + \
            self.source_nii.to_bytes(2, "big")


def check_length(length: int, frame_size_max: int = FRAME_SIZE_MAX) -> None:
    if length > frame_size_max:
        raise FrameSizeError(f"LEN {length} is above {frame_size_max}")
    if length < FRAME_SIZE_MIN:
        raise FrameSizeError(f"LEN {length} is below {FRAME_SIZE_MIN}")


def decode_tpdu(data: bytes) -> Tpdu:
    if len(data) < TPDU_SIZE or data[0] != TPDU_ID:
        raise TpduError(f"TPDU does not start with 0x60: {data[:TPDU_SIZE].hex()}")
    return Tpdu(int.from_bytes(data[1:3], "big"), int.from_bytes(data[3:5], "big"))


def split_payload(payload: bytes) -> tuple[Tpdu, bytes]:
    """TPDU and ISO body of a frame's payload (what follows LEN)."""
    check_length(len(payload), max(len(payload), FRAME_SIZE_MIN))
    return decode_tpdu(payload), payload[TPDU_SIZE:]


def encode_frame(tpdu: Tpdu, body: bytes) -> bytes:
    """LEN + TPDU + body, ready for the socket."""
    length = TPDU_SIZE + len(body)
    if length > 0xFFFF:
        raise FrameSizeError(f"frame of {length} bytes does not fit a 2-byte LEN")
    return length.to_bytes(2, "big") + tpdu.encode() + body


async def read_frame(
    stream: BufferedByteReceiveStream, frame_size_max: int = FRAME_SIZE_MAX
) -> tuple[Tpdu, bytes]:
    """Read one frame: the length and TPDU are checked before anything more is read.

    Raises anyio.IncompleteRead when the peer closes, whether between frames or inside one.
    """
    header = await stream.receive_exactly(2)
    length = int.from_bytes(header, "big")
    check_length(length, frame_size_max)
    tpdu = decode_tpdu(await stream.receive_exactly(TPDU_SIZE))
    body = await stream.receive_exactly(length - TPDU_SIZE)
    return tpdu, body
