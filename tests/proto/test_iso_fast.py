"""The fast ISO codec against pyiso8583, differentially, on every field of the spec.

Each property compares proto.iso_fast with the pyiso8583 reference: the same bytes, the same
fields (in the same order), the same verdict on malformed input, the same exception class on
bad input to encode. JIFEN_CODEC_EXAMPLES=100000 multiplies the examples for a long run
(then pass `-p no:timeout`).
"""

from __future__ import annotations

import os

import iso8583
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto.errors import IsoDecodeError, IsoEncodeError
from proto.iso_fast import decode_iso, decode_iso_reference, encode_iso, encode_iso_reference
from proto.iso_fast.layout import LAYOUTS
from proto.iso_spec import SPEC

_LONG_RUN_EXAMPLES = int(os.environ.get("JIFEN_CODEC_EXAMPLES", "0"))


def examples(default: int) -> settings:
    """`default` examples, or JIFEN_CODEC_EXAMPLES for a long run; no deadline: the box is
    shared and pyiso8583 is the slow side."""
    return settings(
        max_examples=_LONG_RUN_EXAMPLES or default, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Every data field of the spec (2-128 but 65, the tertiary bitmap's bit).
ALL_FIELDS = sorted(LAYOUTS)
SECONDARY_FIELDS = [number for number in ALL_FIELDS if number > 64]
# Characters a value may hold: pyiso8583's "ascii" takes all 128, control characters too.
_ascii = st.characters(max_codepoint=127)
# A short random seed repeated to a field's size: drawing 999 characters one by one would spend
# the test's time in hypothesis, and the codec cares about lengths and ASCII, not variety.
_seeds = st.one_of(
    st.text(alphabet="0123456789", min_size=1, max_size=24),                       # n
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1,
            max_size=24),                                                          # ans
    st.text(alphabet=_ascii, min_size=1, max_size=24),
)


def _repeat(seed: str, size: int) -> str:
    return (seed * (size // len(seed) + 1))[:size]


def _values(number: int) -> st.SearchStrategy[str]:
    """Values valid for one field: its fixed width, or any size up to its maximum (often
    short, sometimes up to the maximum)."""
    layout = LAYOUTS[number]
    if not layout.prefix_digits:
        return _seeds.map(lambda seed: _repeat(seed, layout.size_max))
    sizes = st.one_of(st.integers(0, min(layout.size_max, 40)), st.integers(0, layout.size_max))
    return st.tuples(_seeds, sizes).map(lambda pair: _repeat(*pair))


# Strategies built once: building them inside each draw costs more than the codecs.
FIELD_VALUES = {number: _values(number) for number in ALL_FIELDS}
_mtis = st.text(alphabet="0123456789", min_size=4, max_size=4)


@st.composite
def messages(draw, max_fields: int = 12) -> dict[str, str]:
    """Any subset of the spec's fields, in any insertion order, often with a secondary one."""
    numbers = draw(st.lists(st.sampled_from(ALL_FIELDS), max_size=max_fields, unique=True))
    extra = draw(st.one_of(st.none(), st.sampled_from(SECONDARY_FIELDS)))
    if extra is not None and extra not in numbers:
        numbers.append(extra)
    message = {"t": draw(_mtis)}
    for number in numbers:
        message[str(number)] = draw(FIELD_VALUES[number])
    return message


# The library's own spec object rather than ours: terminals built on it must match too.
LIBRARY_SPEC = iso8583.specs.default_ascii


def pyiso8583_encode(message: dict) -> bytes:
    encoded, _ = iso8583.encode(dict(message), LIBRARY_SPEC)
    return bytes(encoded)


def pyiso8583_decode(body: bytes) -> dict[str, str]:
    decoded, _ = iso8583.decode(body, LIBRARY_SPEC)
    decoded.pop("p")
    decoded.pop("1", None)
    return decoded


def outcome(function, argument):
    """The result, or the class of the exception: what two codecs must agree on."""
    try:
        result = function(argument)
    except Exception as exc:    # noqa: BLE001 - any class, compared below
        return type(exc)
    return list(result.items()) if isinstance(result, dict) else result


class TestValidMessages:
    @examples(300)
    @given(messages())
    def test_same_bytes_and_fields_as_pyiso8583(self, message):
        body = encode_iso(message)
        assert body == pyiso8583_encode(message)
        decoded = decode_iso(body)
        assert list(decoded.items()) == list(pyiso8583_decode(body).items())
        assert decoded == message

    @pytest.mark.parametrize("number", ALL_FIELDS)
    def test_every_field_alone_at_each_end_of_its_sizes(self, number):
        layout = LAYOUTS[number]
        for size in {0, 1, layout.size_max} if layout.prefix_digits else {layout.size_max}:
            for character in "0", "~", "\x00":
                message = {"t": "0200", str(number): character * size}
                body = encode_iso(message)
                assert body == pyiso8583_encode(message)
                assert list(decode_iso(body).items()) == list(pyiso8583_decode(body).items())

    @examples(50)
    @given(messages(), st.sampled_from([bytearray, bytes]))
    def test_bytearray_decodes_as_bytes(self, message, kind):
        body = kind(encode_iso(message))
        assert outcome(decode_iso, body) == outcome(decode_iso_reference, body)

    def test_spec_is_default_ascii(self):
        assert SPEC == iso8583.specs.default_ascii


# ---- malformed bodies: both codecs accept with equal fields, or both reject ----------------

# Bytes that pyiso8583's parsing treats specially: int() takes whitespace, signs and
# underscores; bytes.fromhex takes lower case and whitespace between pairs; non-ASCII fails.
_NASTY = b"0123456789 +-_\t\n\x0b\x0c\r\x1c\x1f abcdefABCDEFxX\x00\x7f\x80\xff"
_nasty_bytes = st.binary(min_size=1, max_size=3).map(
    lambda raw: bytes(_NASTY[byte % len(_NASTY)] for byte in raw))
_BITMAP_CHARACTERS = [b" ", b"\t", b"a", b"f", b"8", b"0", b"F", b"G", b"x", b"\xc0"]
_MUTATIONS = ["flip", "delete", "insert", "replace", "truncate", "prefix", "bitmap", "append"]
# Positions are drawn as any number, then reduced modulo what the body allows: strategies with
# bounds that change per example would be rebuilt on every draw.
_anywhere = st.integers(0, 1 << 16)


def prefix_offsets(message: dict[str, str]) -> list[tuple[int, int]]:
    """(offset, digits) of each length prefix in the message's encoding."""
    numbers = sorted(int(key) for key in message if key != "t")
    position = 4 + (32 if numbers and numbers[-1] > 64 else 16)
    offsets = []
    for number in numbers:
        layout = LAYOUTS[number]
        if layout.prefix_digits:
            offsets.append((position, layout.prefix_digits))
        position += layout.prefix_digits + len(message[str(number)])
    return offsets


def _mutate(draw, message: dict[str, str], body: bytearray, kind: str) -> None:
    prefixes = prefix_offsets(message)
    if kind == "prefix" and prefixes:
        offset, digits = prefixes[draw(_anywhere) % len(prefixes)]
        nasty = draw(_nasty_bytes) + draw(_nasty_bytes)
        body[offset:offset + digits] = nasty[:digits]
    elif kind == "bitmap" and len(body) > 4:
        offset = 4 + draw(_anywhere) % min(len(body) - 4, 48)
        body[offset:offset + 1] = draw(st.sampled_from(_BITMAP_CHARACTERS))
    elif kind == "append":
        body += draw(_nasty_bytes)
    elif body:
        offset = draw(_anywhere) % len(body)
        if kind == "flip":
            body[offset] ^= 1 << (draw(_anywhere) % 8)
        elif kind == "delete":
            del body[offset]
        elif kind == "insert":
            body[offset:offset] = draw(_nasty_bytes)
        elif kind == "replace":
            body[offset:offset + 1] = draw(_nasty_bytes)
        else:
            del body[offset:]


@st.composite
def mutated_bodies(draw) -> bytes:
    """A valid encoding with 1-3 mutations: flipped bits, bytes deleted or inserted,
    truncation, a corrupted length prefix or bitmap, bytes appended."""
    message = draw(messages(max_fields=8))
    body = bytearray(encode_iso(message))
    for kind in draw(st.lists(st.sampled_from(_MUTATIONS), min_size=1, max_size=3)):
        _mutate(draw, message, body, kind)
    return bytes(body)


_forged_mtis = st.sampled_from([b"0200", b"0800", b"02 0", b"\xff200"])
_forged_bitmaps = st.lists(
    st.lists(st.sampled_from(b"0123456789ABCDEFabcdef  \t"), min_size=16, max_size=16).map(
        bytes),
    min_size=1, max_size=3).map(b"".join)
_forged_tails = st.binary(max_size=120).map(
    lambda raw: bytes(_NASTY[byte % len(_NASTY)] if byte < 128 else 0x30 + byte % 10
                      for byte in raw))
# An MTI, bitmaps written by hand (any bits, secondary and tertiary too, lower case,
# whitespace) and a tail of mostly digits, nasty bytes and letters: bodies that get far into
# the decoder before they are rejected, or that pass.
forged_bodies = st.tuples(_forged_mtis, _forged_bitmaps, _forged_tails).map(b"".join)


class TestMalformed:
    @examples(500)
    @given(mutated_bodies())
    def test_mutated_encodings_get_the_same_verdict(self, body):
        assert outcome(decode_iso, body) == outcome(decode_iso_reference, body)

    @examples(500)
    @given(forged_bodies)
    def test_forged_bitmaps_get_the_same_verdict(self, body):
        assert outcome(decode_iso, body) == outcome(decode_iso_reference, body)

    @examples(300)
    @given(st.binary(max_size=200))
    def test_random_bytes_get_the_same_verdict(self, body):
        assert outcome(decode_iso, body) == outcome(decode_iso_reference, body)

    @pytest.mark.parametrize("body", [
        b"", b"0800", b"08000000000000000000", b"0800 000000000000000",
        b"0800" + b"0" * 15 + b" ", b"0800" + b" 0" * 8, b"0800" + b"00 " * 5 + b"0",
        b"08000020000000000000" + b"000001",       # 11 as a STAN
        b"0800" + b"8" + b"0" * 15 + b"0" * 16,    # an empty secondary bitmap
        b"0800" + b"8" + b"0" * 15 + b"8" + b"0" * 15 + b"0" * 16,   # an empty tertiary
        b"0800" + b"8" + b"0" * 15 + b"8" + b"0" * 15 + b"8" + b"0" * 15,   # field 129
        b"0200" + b"4" + b"0" * 15 + b" 5" + b"12345",   # LL prefixes int() accepts
        b"0200" + b"4" + b"0" * 15 + b"+5" + b"12345",
        b"0200" + b"4" + b"0" * 15 + b"-0", b"0200" + b"4" + b"0" * 15 + b"-1",
        b"0200" + b"4" + b"0" * 15 + b"\x1c5" + b"12345",
        b"0200" + b"4" + b"0" * 15 + b"20" + b"1" * 20,   # over field 2's 19
        b"0200" + b"00" + b"0" * 14 + b"0" * 9,            # 48 (LLL) with "000" + 6 extra
        b"0200" + b"0" * 11 + b"1" + b"0" * 4 + b"0_3abc",
        b"0200" + b"0" * 16 + b"\x80",
    ])
    def test_edge_cases_get_the_same_verdict(self, body):
        assert outcome(decode_iso, body) == outcome(decode_iso_reference, body)

    @pytest.mark.parametrize("body", ["0800" + "0" * 16, memoryview(b"0800" + b"0" * 16), None])
    def test_not_bytes_is_a_decode_error(self, body):
        assert outcome(decode_iso_reference, body) is IsoDecodeError
        with pytest.raises(IsoDecodeError):
            decode_iso(body)


# ---- encode errors: the same exception class as the reference ------------------------------

_bad_values = st.one_of(
    st.text(alphabet=_ascii, max_size=30),
    st.text(min_size=1, max_size=4),                # non-ASCII characters
    st.sampled_from([None, 7, b"12", ["1"]]),
)
_odd_keys = st.sampled_from(
    ["1", "65", "p", "h", "x", "02", "0", "129", "193", "200", "\u00bd", "\u0663", 3, None])


_BAD_MESSAGE_CHANGES = ["value", "key", "mti", "drop_mti", "oversize", "short"]
_fields = st.sampled_from(ALL_FIELDS)


@st.composite
def bad_messages(draw) -> dict:
    """A valid message with 1-3 defects: odd values or keys, a bad or missing MTI, a field
    over its maximum or off its fixed width."""
    message = draw(messages(max_fields=6))
    for kind in draw(st.lists(st.sampled_from(_BAD_MESSAGE_CHANGES), min_size=1, max_size=3)):
        if kind == "value":
            message[str(draw(_fields))] = draw(_bad_values)
        elif kind == "key":
            message[draw(_odd_keys)] = draw(_bad_values)
        elif kind == "mti":
            message["t"] = draw(_bad_values)
        elif kind == "drop_mti":
            message.pop("t", None)
        else:
            layout = LAYOUTS[draw(_fields)]
            change = 1 + draw(_anywhere) % 3
            size = layout.size_max + change if kind == "oversize" else layout.size_max - change
            message[layout.key] = "9" * max(size, 0)
    return message


class TestEncodeErrors:
    @examples(400)
    @given(bad_messages())
    def test_same_bytes_or_same_exception_class(self, message):
        assert outcome(encode_iso, message) == outcome(encode_iso_reference, message)

    @pytest.mark.parametrize("message", [
        {"2": "1234"}, {"t": "020"}, {"t": "0200", "2": "1" * 20}, {"t": "0200", "3": "12345"},
        {"t": "0200", "3": "1234567"}, {"t": "0200", "48": "é"}, {"t": "02é0"},
        {"t": "0200", "48": "x" * 1000}, {"t": 200}, {"t": "0200", "3": 123456},
    ])
    def test_invalid_messages_are_iso_encode_errors(self, message):
        with pytest.raises(IsoEncodeError):
            encode_iso(message)
        with pytest.raises(IsoEncodeError):
            encode_iso_reference(message)

    def test_encode_leaves_the_message_alone(self):
        message = {"t": "0200", "1": "x", "65": "y", "11": "000001"}
        encode_iso(message)
        assert message == {"t": "0200", "1": "x", "65": "y", "11": "000001"}

    def test_non_digit_numeric_fields_pass_as_in_pyiso8583(self):
        # pyiso8583 checks widths, not content: field 30's n6 is the validator's job (§9).
        message = {"t": "0200", "3": "ABCDEF", "11": "      "}
        assert encode_iso(message) == pyiso8583_encode(message)
