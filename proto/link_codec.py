"""Length-prefixed msgpack for the internal links: LEN (4 bytes, big-endian) | msgpack."""

from __future__ import annotations

import msgspec

from proto.errors import LinkCodecError, LinkMessageSizeError
from proto.frames import LinkMessage

LENGTH_SIZE = 4
# The default of each link's `link_message_size_max`: a batch of a few thousand frames is under
# 1 MB (about 200 bytes a frame), and a sender splits a bigger one; a peer must not make us
# buffer more than this before we can decode (it was 32 MiB: 10 connections held 320 MiB).
LINK_MESSAGE_SIZE_MAX = 1024 * 1024

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(LinkMessage)
_LENGTH_PLACEHOLDER = bytes(LENGTH_SIZE)


def encode_link_message(message: LinkMessage) -> bytes:
    encoded = bytearray()
    encode_link_message_into(message, encoded)
    return bytes(encoded)


def encode_link_message_into(message: LinkMessage, buffer: bytearray,
                             size_max: int = LINK_MESSAGE_SIZE_MAX) -> None:
    """Append one message to `buffer`, encoded in place (no copy of the body); a message over
    `size_max` is not appended (LinkMessageSizeError: the caller splits its batch)."""
    start = len(buffer)
    buffer += _LENGTH_PLACEHOLDER
    _encoder.encode_into(message, buffer, start + LENGTH_SIZE)
    length = len(buffer) - start - LENGTH_SIZE
    if length > size_max:
        del buffer[start:]
        raise LinkMessageSizeError(f"link message of {length} bytes is over the limit")
    buffer[start:start + LENGTH_SIZE] = length.to_bytes(LENGTH_SIZE, "big")


def decode_link_body(body: bytes | memoryview) -> LinkMessage:
    try:
        return _decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise LinkCodecError(f"malformed link message: {exc}") from exc


def take_link_messages(
    data: bytes | bytearray, size_max: int = LINK_MESSAGE_SIZE_MAX
) -> tuple[list[LinkMessage], int]:
    """The whole messages at the head of `data`, and how many bytes they took. Raises
    LinkMessageSizeError for a length over `size_max` (as soon as its 4 bytes are in), and
    LinkCodecError for a body that does not decode."""
    messages: list[LinkMessage] = []
    size = len(data)
    start = 0
    with memoryview(data) as view:
        while size - start >= LENGTH_SIZE:
            length = int.from_bytes(view[start:start + LENGTH_SIZE], "big")
            if length > size_max:
                raise LinkMessageSizeError(f"link message of {length} bytes is over the limit")
            end = start + LENGTH_SIZE + length
            if end > size:
                break
            messages.append(decode_link_body(view[start + LENGTH_SIZE:end]))
            start = end
    return messages, start
