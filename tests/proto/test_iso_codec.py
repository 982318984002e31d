"""The ISO codec: valid messages round-trip; any bytes give fields or IsoDecodeError."""

import iso8583
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proto.errors import IsoDecodeError
from proto.iso_codec import decode_iso, encode_iso
from proto.iso_spec import SPEC

# Fields of the host interface, with a generator of valid values for each.
_digits = lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)  # noqa: E731
_printable = st.characters(min_codepoint=32, max_codepoint=126)
FIELD_VALUES = {
    "2": st.text(alphabet="0123456789", min_size=16, max_size=19),
    "3": _digits(6), "4": _digits(12), "7": _digits(10), "11": _digits(6),
    "12": _digits(6), "13": _digits(4), "22": _digits(3), "25": _digits(2),
    "37": st.text(alphabet="ABCDEF0123456789", min_size=12, max_size=12),
    "38": st.text(alphabet="ABCDEFGHXYZ0123456789", min_size=6, max_size=6),
    "39": st.sampled_from(["00", "05", "12", "30", "A0"]),
    "41": st.text(alphabet=_printable, min_size=8, max_size=8),
    "42": st.text(alphabet=_printable, min_size=15, max_size=15),
    "48": st.text(alphabet=_printable, max_size=999),
    "49": st.sampled_from(["156", "999"]),
    "54": st.text(alphabet="0123456789CD", max_size=120),
    "60": _digits(6), "64": st.text(alphabet="0123456789ABCDEF", min_size=16, max_size=16),
    "70": st.sampled_from(["001", "002", "101", "301"]),
    "74": _digits(10), "75": _digits(10), "76": _digits(10), "77": _digits(10),
    "86": _digits(16), "87": _digits(16), "88": _digits(16), "89": _digits(16),
    "90": _digits(42),
}


@st.composite
def iso_messages(draw):
    fields = draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), unique=True, max_size=20))
    message = {"t": draw(st.sampled_from(["0100", "0200", "0220", "0400", "0420", "0500", "0800"]))}
    for field in fields:
        message[field] = draw(FIELD_VALUES[field])
    return message


class TestRoundTrip:
    @given(iso_messages())
    def test_encode_then_decode_gives_the_fields(self, message):
        assert decode_iso(encode_iso(message)) == message

    @given(iso_messages())
    def test_same_bytes_as_pyiso8583_default_ascii(self, message):
        expected, _ = iso8583.encode(dict(message), iso8583.specs.default_ascii)
        assert encode_iso(message) == bytes(expected)

    def test_spec_is_default_ascii(self):
        assert SPEC == iso8583.specs.default_ascii


class TestMalformed:
    @settings(max_examples=500)
    @given(st.binary(max_size=300))
    def test_random_bytes_decode_or_raise_typed_error(self, data):
        try:
            message = decode_iso(data)
        except IsoDecodeError:
            return
        assert message["t"].isdigit()

    @given(iso_messages(), st.data())
    def test_truncated_message_is_a_decode_error(self, message, data):
        encoded = encode_iso(message)
        cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
        with pytest.raises(IsoDecodeError):
            decode_iso(encoded[:cut])

    @pytest.mark.parametrize("mti", [b"08a0", b"    ", b"\xff\xfe00"])
    def test_bad_mti(self, mti):
        with pytest.raises(IsoDecodeError):
            decode_iso(mti + b"0000000000000000")

    def test_bad_bitmap(self):
        with pytest.raises(IsoDecodeError):
            decode_iso(b"0800ZZZZZZZZZZZZZZZZ")

    def test_trailing_bytes(self):
        encoded = encode_iso({"t": "0800", "11": "000001"})
        with pytest.raises(IsoDecodeError):
            decode_iso(encoded + b"9")
