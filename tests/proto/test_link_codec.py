"""Internal link messages: round trip, and malformed input gives LinkCodecError."""

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto.errors import LinkCodecError
from proto.frames import Answer, AnswerBatch, Balances, Ping, Pong, Request, RequestBatch, Totals
from proto.link_codec import LENGTH_SIZE, decode_link_body, encode_link_message

text = st.text(max_size=20)
maybe_text = st.none() | text
maybe_int = st.none() | st.integers(min_value=0, max_value=10**12)
totals = st.builds(Totals, *[st.integers(min_value=0, max_value=10**16)] * 8)

requests = st.builds(
    Request, st.integers(min_value=0, max_value=2**63 - 1), text, text, text, text, text,
    st.integers(min_value=0, max_value=2**63 - 1),
    processing_code=maybe_text, pan=maybe_text, amount=maybe_int, currency=maybe_text,
    rrn=maybe_text, reason_code=maybe_text, additional_data=maybe_text,
    batch_number=maybe_int, original_data=maybe_text, network_code=maybe_text,
    entry_mode=maybe_text, totals=st.none() | totals,
)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
balances = st.builds(Balances, int64, int64, int64)
answers = st.builds(
    Answer, st.integers(min_value=0, max_value=2**63 - 1), text, rrn=maybe_text,
    auth_code=maybe_text, balances=st.none() | balances, additional_data=maybe_text,
    batch_number=maybe_int, totals=st.none() | totals,
)
messages = (
    st.builds(RequestBatch, st.lists(requests, max_size=5))
    | st.builds(AnswerBatch, st.lists(answers, max_size=5))
    | st.builds(Ping, st.integers(min_value=0, max_value=2**63 - 1))
    | st.builds(Pong, st.integers(min_value=0, max_value=2**63 - 1))
)


class TestLinkCodec:
    @given(messages)
    def test_round_trip(self, message):
        encoded = encode_link_message(message)
        assert int.from_bytes(encoded[:LENGTH_SIZE], "big") == len(encoded) - LENGTH_SIZE
        assert decode_link_body(encoded[LENGTH_SIZE:]) == message

    @given(st.binary(max_size=200))
    def test_random_bytes_decode_or_raise_typed_error(self, data):
        try:
            decode_link_body(data)
        except LinkCodecError:
            pass

    def test_wrong_shape_is_rejected(self):
        with pytest.raises(LinkCodecError):
            decode_link_body(msgspec.msgpack.encode(["rq", [["not", "a", "request"]]]))
