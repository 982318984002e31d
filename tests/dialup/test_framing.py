"""The dial-up frame codec (proto.dialup_framing): BCD, LRC, whole frames and the decoder."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proto.dialup_framing import (
    ACK,
    ETX,
    NAK,
    PAYLOAD_SIZE_MAX,
    PAYLOAD_SIZE_MIN,
    STX,
    BcdDigitError,
    ControlReceived,
    DialupDecoder,
    DialupFrameError,
    DialupLengthError,
    EtxError,
    FrameReceived,
    FrameRejected,
    LrcError,
    NoiseSkipped,
    TruncatedFrameError,
    decode_bcd_length,
    decode_dialup_frame,
    encode_bcd_length,
    encode_dialup_frame,
    lrc,
)
from proto.errors import FramingError

PAYLOAD = bytes.fromhex("6000010000") + b"0800" + b"0" * 16  # TPDU + a minimal message
payloads = st.binary(min_size=PAYLOAD_SIZE_MIN, max_size=300)
noise_bytes = st.binary(max_size=20).map(
    lambda data: bytes(byte for byte in data if byte not in (STX, ACK, NAK)))


def feed_in_chunks(decoder: DialupDecoder, data: bytes, sizes: list[int]) -> list:
    events, start = [], 0
    for size in sizes:
        events += decoder.feed(data[start:start + size])
        start += size
    events += decoder.feed(data[start:])
    return events


def merge_noise(events: list) -> list:
    """Noise events of adjacent chunks merged: chunking may split one run of noise."""
    merged: list = []
    for event in events:
        if isinstance(event, NoiseSkipped) and merged and isinstance(merged[-1], NoiseSkipped):
            merged[-1] = NoiseSkipped(merged[-1].size + event.size)
        else:
            merged.append(event)
    return merged


class TestBcdAndLrc:
    def test_the_spec_example(self):
        assert encode_bcd_length(125) == b"\x01\x25"
        assert decode_bcd_length(b"\x01\x25") == 125

    @given(st.integers(min_value=0, max_value=9999))
    def test_bcd_round_trip(self, length):
        assert decode_bcd_length(encode_bcd_length(length)) == length

    @pytest.mark.parametrize("data", [b"\x0a\x00", b"\x00\xf1", b"\x1b\x00"])
    def test_a_nibble_above_nine_is_not_bcd(self, data):
        with pytest.raises(BcdDigitError):
            decode_bcd_length(data)

    def test_too_long_for_four_digits(self):
        with pytest.raises(DialupLengthError):
            encode_bcd_length(10_000)

    def test_lrc_covers_len_payload_and_etx(self):
        frame = encode_dialup_frame(PAYLOAD)
        assert frame[0] == STX and frame[-2] == ETX
        assert frame[-1] == lrc(frame[1:-1])
        assert lrc(frame[1:]) == 0  # XOR including the LRC itself cancels out


class TestWholeFrames:
    @given(payloads)
    def test_round_trip(self, payload):
        frame = encode_dialup_frame(payload)
        assert frame[1:3] == encode_bcd_length(len(payload))
        assert decode_dialup_frame(frame) == payload

    @given(noise_bytes, payloads)
    def test_noise_before_stx_is_skipped(self, noise, payload):
        assert decode_dialup_frame(noise + encode_dialup_frame(payload)) == payload

    def test_bad_lrc(self):
        frame = bytearray(encode_dialup_frame(PAYLOAD))
        frame[-1] ^= 0x01
        with pytest.raises(LrcError):
            decode_dialup_frame(bytes(frame))

    def test_missing_etx(self):
        frame = bytearray(encode_dialup_frame(PAYLOAD))
        frame[-2] = 0x04
        with pytest.raises(EtxError):
            decode_dialup_frame(bytes(frame))

    @pytest.mark.parametrize("length", [b"\x99\x99", b"\x20\x49", b"\x00\x08", b"\x00\x00"])
    def test_length_out_of_range(self, length):
        with pytest.raises(DialupLengthError):
            decode_dialup_frame(bytes((STX,)) + length + PAYLOAD + bytes((ETX, 0)))

    def test_non_bcd_length(self):
        with pytest.raises(BcdDigitError):
            decode_dialup_frame(bytes((STX, 0x0A, 0x25)) + PAYLOAD)

    def test_cut_off(self):
        frame = encode_dialup_frame(PAYLOAD)
        for end in range(len(frame)):
            with pytest.raises(TruncatedFrameError):
                decode_dialup_frame(frame[:end])

    def test_bytes_after_the_frame(self):
        with pytest.raises(DialupFrameError):
            decode_dialup_frame(encode_dialup_frame(PAYLOAD) + b"\x06")

    def test_encode_refuses_out_of_range_payloads(self):
        with pytest.raises(DialupLengthError):
            encode_dialup_frame(b"\x60" * (PAYLOAD_SIZE_MIN - 1))
        with pytest.raises(DialupLengthError):
            encode_dialup_frame(b"\x60" * (PAYLOAD_SIZE_MAX + 1))

    def test_errors_are_framing_errors_with_reasons(self):
        for error in (BcdDigitError, DialupLengthError, EtxError, LrcError, TruncatedFrameError):
            assert issubclass(error, FramingError)
            assert error.reason != DialupFrameError.reason
        assert LrcError.extent_known and not DialupLengthError.extent_known


class TestDecoder:
    def test_controls_noise_and_a_frame(self):
        frame = encode_dialup_frame(PAYLOAD)
        events = DialupDecoder().feed(b"\xff\xfe" + bytes((ACK,)) + frame + bytes((NAK,)))
        assert events == [NoiseSkipped(2), ControlReceived(ACK), FrameReceived(PAYLOAD),
                          ControlReceived(NAK)]

    def test_control_bytes_inside_a_frame_are_data(self):
        payload = PAYLOAD + bytes((ACK, NAK, STX, ETX))
        assert DialupDecoder().feed(encode_dialup_frame(payload)) == [FrameReceived(payload)]

    def test_abort_inside_a_frame(self):
        decoder = DialupDecoder()
        assert decoder.feed(encode_dialup_frame(PAYLOAD)[:10]) == []
        assert decoder.in_frame
        rejected = decoder.abort()
        assert isinstance(rejected, FrameRejected)
        assert isinstance(rejected.error, TruncatedFrameError)
        assert not decoder.in_frame and decoder.abort() is None

    def test_after_a_bad_frame_the_next_one_decodes(self):
        bad = bytearray(encode_dialup_frame(PAYLOAD))
        bad[-1] ^= 0xFF
        events = DialupDecoder().feed(bytes(bad) + encode_dialup_frame(PAYLOAD))
        assert isinstance(events[0], FrameRejected) and isinstance(events[0].error, LrcError)
        assert events[1:] == [FrameReceived(PAYLOAD)]

    @given(st.lists(payloads, max_size=4), st.lists(st.integers(1, 50), max_size=30))
    def test_chunking_does_not_change_the_events(self, frame_payloads, sizes):
        data = b"\x00".join(encode_dialup_frame(payload) for payload in frame_payloads)
        whole = DialupDecoder().feed(data)
        chunked = merge_noise(feed_in_chunks(DialupDecoder(), data, sizes))
        assert chunked == whole
        assert [e.payload for e in whole if isinstance(e, FrameReceived)] == frame_payloads

    @settings(max_examples=300)
    @given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=20))
    def test_random_bytes_give_events_never_exceptions(self, data, sizes):
        decoder = DialupDecoder()
        events = feed_in_chunks(decoder, data, sizes)
        aborted = decoder.abort()
        for event in events + ([aborted] if aborted else []):
            assert isinstance(event, FrameReceived | ControlReceived | NoiseSkipped |
                              FrameRejected)
            if isinstance(event, FrameRejected):
                assert isinstance(event.error, DialupFrameError)
            if isinstance(event, FrameReceived):
                assert PAYLOAD_SIZE_MIN <= len(event.payload) <= PAYLOAD_SIZE_MAX

    @settings(max_examples=300)
    @given(st.binary(max_size=600))
    def test_random_bytes_decode_to_a_payload_or_a_typed_error(self, data):
        try:
            payload = decode_dialup_frame(data)
        except DialupFrameError:
            return
        assert encode_dialup_frame(payload) in data

    @given(payloads, st.integers(min_value=0), st.integers(min_value=1, max_value=255))
    def test_any_single_byte_corruption_is_caught_or_harmless(self, payload, position, flip):
        frame = bytearray(encode_dialup_frame(payload))
        index = 1 + position % (len(frame) - 1)  # any byte after STX
        frame[index] ^= flip
        try:
            decoded = decode_dialup_frame(bytes(frame))
        except DialupFrameError:
            return
        raise AssertionError(f"corruption at {index} gave a frame of {len(decoded)} bytes")
