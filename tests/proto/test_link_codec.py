"""Internal link messages: round trip, and malformed input gives LinkCodecError."""

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto.errors import LinkCodecError
from proto.frames import (
    RECONCILIATION_PARTS_MAX,
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
    reconciliation_parts=st.integers(min_value=0, max_value=RECONCILIATION_PARTS_MAX),
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
        """request_id came last, then reconciliation_parts: a decoder without them ignores
        them, and a frame without them (an older peer's, a 0420 stored before them) reads with
        the defaults."""
        for message, old_type in ((RequestBatch(batch), _OldRequestBatch),
                                  (AnswerBatch(answered), _OldAnswerBatch)):
            body = encode_link_message(message)[LENGTH_SIZE:]
            old = msgspec.msgpack.decode(body, type=old_type)
            assert msgspec.msgpack.encode(old) == _first_fields(body)
            read = decode_link_body(msgspec.msgpack.encode(old))
            items = read.requests if isinstance(read, RequestBatch) else read.answers
            assert all(item.request_id == "" for item in items)
            assert all(item.reconciliation_parts == 0 for item in getattr(read, "requests", []))

    @given(st.lists(requests, min_size=1, max_size=3))
    def test_a_peer_without_reconciliation_parts_reads_the_rest(self, batch):
        body = encode_link_message(RequestBatch(batch))[LENGTH_SIZE:]
        old = msgspec.msgpack.decode(body, type=_BeforePartsBatch)
        read = decode_link_body(msgspec.msgpack.encode(old))
        assert isinstance(read, RequestBatch)
        assert read.requests == [msgspec.structs.replace(item, reconciliation_parts=0)
                                 for item in batch]

    def test_reconciliation_parts_over_the_partitions_are_a_malformed_message(self):
        request = Request(1, "0500", "T", "M", "1", "2", 3,
                          reconciliation_parts=RECONCILIATION_PARTS_MAX + 1)
        with pytest.raises(LinkCodecError):
            decode_link_body(encode_link_message(RequestBatch([request]))[LENGTH_SIZE:])

    @given(st.text(min_size=REQUEST_ID_LENGTH_MAX + 1, max_size=REQUEST_ID_LENGTH_MAX + 40))
    def test_a_request_id_over_its_length_is_a_malformed_message(self, request_id):
        request = Request(1, "0200", "T", "M", "1", "2", 3, request_id=request_id)
        answer = Answer(1, "00", request_id=request_id)
        for message in (RequestBatch([request]), AnswerBatch([answer])):
            with pytest.raises(LinkCodecError):
                decode_link_body(encode_link_message(message)[LENGTH_SIZE:])


# The frames as the release before request ids had them: every field before request_id.
_REQUEST_FIELDS_OLD = Request.__struct_fields__.index("request_id")
_ANSWER_FIELDS_OLD = Answer.__struct_fields__.index("request_id")
_OldRequest = msgspec.defstruct(
    "_OldRequest", [(name, object) for name in Request.__struct_fields__[:_REQUEST_FIELDS_OLD]],
    array_like=True)
_OldAnswer = msgspec.defstruct(
    "_OldAnswer", [(name, object) for name in Answer.__struct_fields__[:_ANSWER_FIELDS_OLD]],
    array_like=True)
_OldRequestBatch = msgspec.defstruct(
    "_OldRequestBatch", [("requests", list[_OldRequest])], tag="rq", array_like=True)
_OldAnswerBatch = msgspec.defstruct(
    "_OldAnswerBatch", [("answers", list[_OldAnswer])], tag="an", array_like=True)
# The request as the release before reconciliation parts had it: every field but the last.
_BeforePartsRequest = msgspec.defstruct(
    "_BeforePartsRequest", [(name, object) for name in Request.__struct_fields__[:-1]],
    array_like=True)
_BeforePartsBatch = msgspec.defstruct(
    "_BeforePartsBatch", [("requests", list[_BeforePartsRequest])], tag="rq", array_like=True)


def _first_fields(body: bytes) -> bytes:
    """The message with each item cut to the fields the release before request ids knew."""
    tag, items = msgspec.msgpack.decode(body)
    kept = _REQUEST_FIELDS_OLD if tag == "rq" else _ANSWER_FIELDS_OLD
    return msgspec.msgpack.encode([tag, [item[:kept] for item in items]])
