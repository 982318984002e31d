"""FrameBuffer cuts the frames of a TCP stream whatever the chunks it arrives in, and names a
bad LEN or TPDU as soon as their bytes are in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto.errors import FrameSizeError, TpduError
from proto.frame_buffer import FrameBuffer
from proto.framing import Tpdu, encode_frame

frames_st = st.lists(
    st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(min_size=4, max_size=300)),
    min_size=1, max_size=8,
)


@given(frames=frames_st, cuts=st.lists(st.integers(1, 64), max_size=200))
def test_any_chunking_gives_the_frames_sent(frames, cuts):
    stream = b"".join(encode_frame(Tpdu(dst, src), body) for dst, src, body in frames)
    buffer = FrameBuffer()
    taken = []
    position = 0
    for size in [*cuts, len(stream)]:
        buffer.feed(stream[position:position + size])
        position += size
        while (frame := buffer.take()) is not None:
            taken.append(frame)
    assert taken == [(Tpdu(dst, src), body) for dst, src, body in frames]
    assert len(buffer) == 0


def test_len_beyond_the_limit_is_named_before_the_body():
    buffer = FrameBuffer(frame_size_max=2048)
    buffer.feed((2049).to_bytes(2, "big"))
    with pytest.raises(FrameSizeError):
        buffer.take()


def test_len_below_a_tpdu_and_an_mti():
    buffer = FrameBuffer()
    buffer.feed((8).to_bytes(2, "big"))
    with pytest.raises(FrameSizeError):
        buffer.take()


def test_bad_tpdu_is_named_before_the_body():
    buffer = FrameBuffer()
    buffer.feed((100).to_bytes(2, "big") + bytes([0x61, 0, 1, 0, 2]))
    with pytest.raises(TpduError):
        buffer.take()


def test_an_incomplete_frame_waits():
    buffer = FrameBuffer()
    frame = encode_frame(Tpdu(1, 2), b"0800abcd")
    buffer.feed(frame[:-1])
    assert buffer.take() is None
    buffer.feed(frame[-1:])
    assert buffer.take() == (Tpdu(1, 2), b"0800abcd")
