"""Length-prefixed msgpack for the internal links: LEN (4 bytes, big-endian) | msgpack."""

from __future__ import annotations

import msgspec
from anyio.streams.buffered import BufferedByteReceiveStream

from proto.errors import LinkCodecError
from proto.frames import LinkMessage

LENGTH_SIZE = 4
# One batch of a few thousand frames is ~1 MB; anything near this limit is a bug or an attack.
LINK_MESSAGE_SIZE_MAX = 32 * 1024 * 1024

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(LinkMessage)


def encode_link_message(message: LinkMessage) -> bytes:
    body = _encoder.encode(message)
    if len(body) > LINK_MESSAGE_SIZE_MAX:
        raise LinkCodecError(f"link message of {len(body)} bytes is over the limit")
    return len(body).to_bytes(LENGTH_SIZE, "big") + body


def decode_link_body(body: bytes) -> LinkMessage:
    try:
        return _decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise LinkCodecError(f"malformed link message: {exc}") from exc


async def read_link_message(stream: BufferedByteReceiveStream) -> LinkMessage:
    """One message; raises anyio.IncompleteRead when the peer closes."""
    length = int.from_bytes(await stream.receive_exactly(LENGTH_SIZE), "big")
    if length > LINK_MESSAGE_SIZE_MAX:
        raise LinkCodecError(f"link message of {length} bytes is over the limit")
    return decode_link_body(await stream.receive_exactly(length))
