"""TCP framing: LEN + TPDU, the limits, and reading from a real stream."""

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from hypothesis import given
from hypothesis import strategies as st

from proto.errors import FrameSizeError, TpduError
from proto.framing import FRAME_SIZE_MAX, Tpdu, decode_tpdu, encode_frame, read_frame

niis = st.integers(min_value=0, max_value=0xFFFF)


async def _read_all_frames(data: bytes):
    """Feed bytes through a memory stream and read frames until the stream ends."""
    send, receive = anyio.create_memory_object_stream[bytes](1000)
    from anyio.streams.stapled import StapledObjectStream  # noqa: F401

    class _Bytes(anyio.abc.ByteReceiveStream):
        async def receive(self, max_bytes=65536):
            try:
                return await receive.receive()
            except anyio.EndOfStream:
                raise

        async def aclose(self):
            await receive.aclose()

    for start in range(0, len(data), 7):
        send.send_nowait(data[start:start + 7])
    send.close()
    stream = BufferedByteReceiveStream(_Bytes())
    frames = []
    while True:
        try:
            frames.append(await read_frame(stream))
        except anyio.IncompleteRead:
            return frames


class TestTpdu:
    @given(niis, niis)
    def test_round_trip_and_swap(self, destination, source):
        tpdu = Tpdu(destination, source)
        assert decode_tpdu(tpdu.encode()) == tpdu
        assert tpdu.swapped() == Tpdu(source, destination)
        assert tpdu.encode()[0] == 0x60

    def test_wrong_id(self):
        with pytest.raises(TpduError):
            decode_tpdu(b"\x61\x00\x01\x00\x00")


class TestFrames:
    @pytest.mark.anyio
    @given(st.lists(st.tuples(niis, niis, st.binary(min_size=4, max_size=FRAME_SIZE_MAX - 5)),
                    max_size=5))
    async def test_frames_round_trip_through_a_stream(self, frames):
        data = b"".join(encode_frame(Tpdu(d, s), body) for d, s, body in frames)
        decoded = await _read_all_frames(data)
        assert decoded == [(Tpdu(d, s), body) for d, s, body in frames]

    @pytest.mark.anyio
    @pytest.mark.parametrize("length", [0, 8, FRAME_SIZE_MAX + 1, 0xFFFF])
    async def test_length_out_of_bounds(self, length):
        with pytest.raises(FrameSizeError):
            await _read_all_frames(length.to_bytes(2, "big") + b"\x60" + b"\x00" * 20)

    @pytest.mark.anyio
    async def test_tpdu_checked_before_body_is_read(self):
        with pytest.raises(TpduError):
            await _read_all_frames(b"\x00\x20\x61\x00\x00\x00\x00")

    @pytest.mark.anyio
    @given(st.binary(max_size=200))
    async def test_random_bytes_give_frames_or_typed_errors(self, data):
        try:
            await _read_all_frames(data)
        except (FrameSizeError, TpduError):
            pass
