"""The fuzz oracle on hand-made streams: its verdicts are what the front does (§1, §4)."""

from __future__ import annotations

import random

import pytest

from loadtest.fuzz_cases import KINDS, framed, make_case, raw_body, raw_fields, seed_messages
from loadtest.fuzz_oracle import expect
from proto.framing import Tpdu, encode_frame
from proto.iso_codec import encode_iso
from tests.fuzz.fuzz_kit import STATION

SEEDS = seed_messages(STATION)
PURCHASE = next(message for message in SEEDS if message["t"] == "0200")
TPDU = Tpdu(0x0001, 0x0203)


def frame(message: dict[str, str]) -> bytes:
    return encode_frame(TPDU, encode_iso(message))


def test_a_valid_request_is_not_to_be_sent() -> None:
    assert expect(frame(PURCHASE)).valid


def test_kind_and_format_errors_are_answered_with_the_echo() -> None:
    unknown_code = dict(PURCHASE, **{"3": "990000"})
    missing_amount = {field: value for field, value in PURCHASE.items() if field != "4"}
    result = expect(frame(unknown_code) + frame(missing_amount))
    swapped = TPDU.swapped().encode()
    assert result.answers == [(swapped, "0210", STATION.terminal, "000123", "12"),
                              (swapped, "0210", STATION.terminal, "000123", "30")]
    assert not result.tail and not result.valid


@pytest.mark.parametrize(("stream", "reason", "needs_end"), [
    (b"\x0b\xb8" + TPDU.encode() + b"0200", "frame_size", False),
    (b"\x00\x08" + TPDU.encode() + b"020", "frame_size", False),
    (b"\x00\x0d\x61\x00\x01\x02\x03" + b"02000000", "tpdu", False),
    (b"\x00\x0d" + TPDU.encode() + b"02X0ABCD", "iso", False),
    (b"\x00\x0d" + TPDU.encode() + b"9995" + b"0" * 4, "iso", False),
    (b"\x00", "truncated", True),
    (b"\x00\x40" + TPDU.encode() + b"0200", "truncated", True),
])
def test_framing_errors_close(stream: bytes, reason: str, needs_end: bool) -> None:
    result = expect(stream)
    assert (result.close_reason, result.tail_needs_end, result.answers) == \
        (reason, needs_end, [])
    assert result.tail == stream


def test_frames_before_a_framing_error_are_answered_first() -> None:
    bad_format = dict(PURCHASE, **{"49": "840"})
    result = expect(frame(bad_format) + b"\x0b\xb8")
    assert [key[4] for key in result.answers] == ["30"]
    assert result.frames == [frame(bad_format)] and result.tail == b"\x0b\xb8"


def test_raw_bodies_rebuild_the_seed_exactly() -> None:
    for message in SEEDS:
        assert raw_body(message["t"].encode(), raw_fields(message)) == encode_iso(message)


def test_every_kind_makes_cases_and_the_same_seed_the_same_ones() -> None:
    for kind in KINDS:
        first = [make_case(random.Random(7), SEEDS, kind=kind) for _ in range(3)]
        again = [make_case(random.Random(7), SEEDS, kind=kind) for _ in range(3)]
        assert first == again and all(case.stream for case in first)
    assert framed(random.Random(1), b"0800")[2] == 0x60
