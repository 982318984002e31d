"""The generator's fast path against pyiso8583 (the codec the system uses): rendered templates
decode to the fields intended, and the answer reader agrees with a full decode."""

from __future__ import annotations

import time

import iso8583
from hypothesis import given, settings
from hypothesis import strategies as st

from loadtest.mix import parse_mix
from loadtest.wire import AnswerHead, RequestTemplate, clock_fields, read_answer_head
from proto.framing import Tpdu
from proto.iso_codec import decode_iso
from proto.iso_spec import SPEC

TPDU = Tpdu(destination_nii=0x0001, source_nii=0x0203)
_TEXT = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@st.composite
def field_values(draw: st.DrawFn, number: int) -> str:
    spec = SPEC[str(number)]
    if spec["len_type"] == 0:
        return draw(st.text(_TEXT, min_size=spec["max_len"], max_size=spec["max_len"]))
    return draw(st.text(_TEXT, max_size=min(spec["max_len"], 60)))


@st.composite
def answers(draw: st.DrawFn) -> dict[str, str]:
    """Any message of the spec with a STAN: random fields among 2-128, 39 and 41 or not."""
    numbers = draw(st.sets(st.integers(2, 128).filter(lambda n: n != 11), max_size=20))
    message = {"t": draw(st.text("0123456789", min_size=4, max_size=4)),
               "11": draw(st.text("0123456789", min_size=6, max_size=6))}
    for number in numbers:
        message[str(number)] = draw(field_values(number))
    return message


class TestReadAnswerHead:
    @settings(max_examples=300, deadline=None)
    @given(answers())
    def test_agrees_with_pyiso8583(self, message: dict[str, str]) -> None:
        body, _ = iso8583.encode(dict(message), SPEC)
        head = read_answer_head(bytes(body))
        decoded, _ = iso8583.decode(bytes(body), SPEC)
        assert head == AnswerHead(
            decoded["t"].encode(), decoded["11"].encode(), decoded.get("39", "").encode(),
            decoded.get("41", "").encode())

    @settings(max_examples=100, deadline=None)
    @given(answers(), st.data())
    def test_a_truncated_answer_is_refused_or_read_right(self, message: dict[str, str],
                                                        data: st.DataObject) -> None:
        body = bytes(iso8583.encode(dict(message), SPEC)[0])
        cut = data.draw(st.integers(0, len(body) - 1))
        assert read_answer_head(body[:cut]) in (None, read_answer_head(body))

    @given(st.binary(max_size=200))
    def test_garbage_never_raises(self, data: bytes) -> None:
        read_answer_head(data)

    def test_without_a_stan_is_refused(self) -> None:
        body, _ = iso8583.encode({"t": "0810", "39": "00", "41": "TERM0001"}, SPEC)
        assert read_answer_head(bytes(body)) is None


class TestRequestTemplate:
    @settings(max_examples=100, deadline=None)
    @given(st.sampled_from(parse_mix("000000=1,310000=1,900000=1,echo=1")),
           st.integers(16, 19).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)),
           st.integers(1, 999_999), st.integers(0, 2**31 - 1))
    def test_renders_what_pyiso8583_decodes(self, kind, pan: str, stan: int,
                                            second: int) -> None:
        fields = kind.fields(1_234, 42)
        fields.update({"7": "0" * 10, "11": "0" * 6, "41": "LT000001",
                       "42": "LOADTEST0000001"})
        if kind.needs_card:
            fields.update({"2": "0" * len(pan), "12": "0" * 6, "13": "0" * 4, "22": "051",
                           "25": "00"})
        template = RequestTemplate(fields, TPDU)
        clock = clock_fields(second)
        frame = bytes(template.render(pan.encode(), b"%06d" % stan, clock))

        assert int.from_bytes(frame[:2], "big") == len(frame) - 2
        assert frame[2:7] == TPDU.encode()
        moment = time.gmtime(second)
        expected = dict(fields, **{"7": time.strftime("%m%d%H%M%S", moment),
                                   "11": f"{stan:06d}"})
        if kind.needs_card:
            expected.update({"2": pan, "12": time.strftime("%H%M%S", moment),
                             "13": time.strftime("%m%d", moment)})
        assert decode_iso(frame[7:]) == expected
        assert template.answer_mti == f"{int(fields['t']) + 10:04d}".encode()
