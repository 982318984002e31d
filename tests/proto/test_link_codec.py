"""Internal link messages: round trip, and malformed input gives LinkCodecError."""

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto.errors import LinkCodecError
from proto.frames import (
    REQUEST_ID_LENGTH_MAX,
    Answer,
    AnswerBatch,
    Balances,
    Ping,
    Pong,
    Request,
    RequestBatch,
    Totals,
)
from proto.link_codec import LENGTH_SIZE, decode_link_body, encode_link_message

text = st.text(max_size=20)
maybe_text = st.none() | text
maybe_int = st.none() | st.integers(min_value=0, max_value=10**12)
totals = st.builds(Totals, *[st.integers(min_value=0, max_value=10**16)] * 8)
request_ids = st.text(max_size=REQUEST_ID_LENGTH_MAX)

requests = st.builds(
    Request, st.integers(min_value=0, max_value=2**63 - 1), text, text, text, text, text,
    st.integers(min_value=0, max_value=2**63 - 1),
    processing_code=maybe_text, pan=maybe_text, amount=maybe_int, currency=maybe_text,
    rrn=maybe_text, reason_code=maybe_text, additional_data=maybe_text,
    batch_number=maybe_int, original_data=maybe_text, network_code=maybe_text,
    entry_mode=maybe_text, totals=st.none() | totals, request_id=request_ids,
)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
balances = st.builds(Balances, int64, int64, int64)
answers = st.builds(
    Answer, st.integers(min_value=0, max_value=2**63 - 1), text, rrn=maybe_text,
    auth_code=maybe_text, balances=st.none() | balances, additional_data=maybe_text,
    batch_number=maybe_int, totals=st.none() | totals, request_id=request_ids,
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

    @given(st.lists(requests, min_size=1, max_size=3), st.lists(answers, min_size=1, max_size=3))
    def test_a_peer_of_the_release_before_reads_the_frames_and_is_read(self, batch, answered):
        """request_id is the last element: a decoder without it ignores it, and a frame without
        it (an older peer's, a 0420 stored before it) reads with the default."""
        for message, old_type in ((RequestBatch(batch), _OldRequestBatch),
                                  (AnswerBatch(answered), _OldAnswerBatch)):
            body = encode_link_message(message)[LENGTH_SIZE:]
            old = msgspec.msgpack.decode(body, type=old_type)
            assert msgspec.msgpack.encode(old) == _without_request_ids(body)
            read = decode_link_body(msgspec.msgpack.encode(old))
            items = read.requests if isinstance(read, RequestBatch) else read.answers
            assert all(item.request_id == "" for item in items)

    @given(st.text(min_size=REQUEST_ID_LENGTH_MAX + 1, max_size=REQUEST_ID_LENGTH_MAX + 40))
    def test_a_request_id_over_its_length_is_a_malformed_message(self, request_id):
        request = Request(1, "0200", "T", "M", "1", "2", 3, request_id=request_id)
        answer = Answer(1, "00", request_id=request_id)
        for message in (RequestBatch([request]), AnswerBatch([answer])):
            with pytest.raises(LinkCodecError):
                decode_link_body(encode_link_message(message)[LENGTH_SIZE:])


# The frames as the release before request ids had them: every field but the last.
_OldRequest = msgspec.defstruct(
    "_OldRequest", [(name, object) for name in Request.__struct_fields__[:-1]],
    array_like=True)
_OldAnswer = msgspec.defstruct(
    "_OldAnswer", [(name, object) for name in Answer.__struct_fields__[:-1]], array_like=True)
_OldRequestBatch = msgspec.defstruct(
    "_OldRequestBatch", [("requests", list[_OldRequest])], tag="rq", array_like=True)
_OldAnswerBatch = msgspec.defstruct(
    "_OldAnswerBatch", [("answers", list[_OldAnswer])], tag="an", array_like=True)


def _without_request_ids(body: bytes) -> bytes:
    tag, items = msgspec.msgpack.decode(body)
    return msgspec.msgpack.encode([tag, [item[:-1] for item in items]])
