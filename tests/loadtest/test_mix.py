"""The transaction mix parser: codes, weights and expected answer codes."""

from __future__ import annotations

import pytest

from loadtest.errors import UsageError
from loadtest.mix import DEFAULT_MIX, ECHO, describe_mix, parse_mix


class TestParseMix:
    def test_default_is_purchases_and_inquiries(self) -> None:
        kinds = parse_mix(DEFAULT_MIX)
        assert [(kind.name, kind.mti, kind.weight) for kind in kinds] == \
            [("000000", "0200", 80), ("310000", "0100", 20)]
        assert all(kind.expected_codes == {"00"} for kind in kinds)

    def test_expected_codes_after_a_colon(self) -> None:
        (kind,) = parse_mix("900000=5:00/51")
        assert kind.expected_codes == {"00", "51"}
        assert kind.mti == "0200"

    def test_echo_has_no_card(self) -> None:
        (kind,) = parse_mix(" ECHO = 1 ")
        assert (kind.name, kind.mti, kind.needs_card) == (ECHO, "0800", False)
        assert kind.fields(1_000, 1) == {"t": "0800", "70": "301"}

    def test_every_code_the_generator_can_build_is_accepted(self) -> None:
        kinds = parse_mix("000000=1,006000=1,900000=1,210000=1,400060=1,310000=1")
        assert len(kinds) == 6

    def test_fields_follow_the_code(self) -> None:
        purchase, points = parse_mix("000000=1,900000=1")
        assert purchase.fields(2_500, 7) == {
            "t": "0200", "3": "000000", "4": "000000002500", "49": "156", "60": "000007"}
        assert points.fields(300, 1)["49"] == "999"
        (inquiry,) = parse_mix("310000=1")
        assert inquiry.fields(1, 1) == {"t": "0100", "3": "310000"}

    def test_describe_round_trips(self) -> None:
        kinds = parse_mix("000000=80,900000=20:51/00")
        assert describe_mix(kinds) == "000000=80:00,900000=20:00/51"
        assert parse_mix(describe_mix(kinds)) == kinds

    @pytest.mark.parametrize(("text", "message"), [
        ("", "empty"),
        ("000000", "CODE=WEIGHT"),
        ("000000=x", "integer"),
        ("000000=0", "above 0"),
        ("123456=1", "unknown processing code"),
        ("200000=1", "RRN"),
        ("000000=1,000000=2", "twice"),
        ("000000=1:ZZ", "not a response code"),
    ])
    def test_malformed_mix_is_a_usage_error(self, text: str, message: str) -> None:
        with pytest.raises(UsageError, match=message):
            parse_mix(text)
