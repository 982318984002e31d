"""Pure helpers of the simulator: MAC, clock fields, STANs, answers made readable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

import pytest
from Crypto.Cipher import DES3

from devices.answers import decode_points, describe_answer, format_answer_text, format_yuan
from devices.clock import clock_fields
from devices.errors import SessionKeyError
from devices.mac import check_value, mac_field, open_session_key, retail_mac
from devices.messages import redemption
from devices.stan import StanCounter
from proto.fields import parse_tlv

KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


class TestMac:
    def test_retail_mac_matches_the_x9_19_example(self) -> None:
        assert retail_mac(KEY, b"Now is the time for all ").hex().upper() == "A1C72E74EA3FA9B6"

    def test_session_key_opens_and_checks(self) -> None:
        session_key = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
        under_tmk = DES3.new(KEY, DES3.MODE_ECB).encrypt(session_key).hex()
        assert open_session_key(KEY, under_tmk, check_value(session_key)) == session_key
        with pytest.raises(SessionKeyError, match="MV"):
            open_session_key(KEY, under_tmk, "000000")

    def test_secondary_bitmap_messages_use_field_128(self) -> None:
        assert mac_field({"t": "0200", "4": "1"}) == "64"
        assert mac_field({"t": "0500", "74": "0"}) == "128"


class TestClockAndStan:
    def test_clock_fields(self) -> None:
        fields = clock_fields(datetime(2024, 12, 31, 23, 59, 58, tzinfo=UTC))
        assert fields["7"] == "1231235958"
        assert len(fields["12"]) == 6 and len(fields["13"]) == 4

    def test_stan_counter_wraps_and_never_gives_zero(self) -> None:
        counter = StanCounter(999_999)
        assert [counter.next() for _ in range(2)] == ["999999", "000001"]


class TestAnswers:
    ANSWER: ClassVar[dict[str, str]] = {
        "t": "0210", "2": "6221880000000009", "11": "000005", "37": "000000000123",
        "38": "A00001", "39": "00",
        "41": "DEMO0001", "48": "PT004+100TR001G", "60": "000002",
        "54": "0001999C000000001234" "6001156D000000000500" "0090999C000000000100",
    }

    def test_describe_answer_decodes_balances_and_tags(self) -> None:
        described = describe_answer(self.ANSWER)
        assert described["response"] == "approved" and described["approved"]
        assert described["balances"] == {
            "points": 1234, "stored_value_fen": -500, "points_moved": 100,
        }
        assert described["additional_data"] == {"points_signed": "+100", "tier": "G"}
        assert described["points_moved_by_this"] == 100
        assert described["batch_number"] == 2 and described["rrn"] == "000000000123"

    def test_text_shows_names_and_yuan(self) -> None:
        text = format_answer_text(self.ANSWER)
        assert text.splitlines()[0] == "0210  00  approved"
        assert "-5.00 yuan" in text and "1234 points" in text and "RRN" in text
        assert "tag PT" in text and "tier" in text
        assert "622188******0009" in text and "6221880000000009" not in text

    def test_an_inquiry_shows_the_points_expiring_soonest(self) -> None:
        answer = {"t": "0110", "39": "00", "48": "XP02020270331000000000100"}
        described = describe_answer(answer)
        assert described["points_expiring"] == {"last_day": "2027-03-31", "points": 100}
        assert "100 points expire after 2027-03-31" in format_answer_text(answer)
        assert "points_expiring" not in describe_answer({"t": "0110", "39": "00",
                                                         "48": "XP00820279999"})

    def test_declines_and_bad_tlv_are_described(self) -> None:
        described = describe_answer({"t": "0210", "39": "51", "48": "PT9"})
        assert described["response"] == "not enough points or stored value"
        assert "additional_data_error" in described

    @pytest.mark.parametrize(("fen", "text"), [(0, "0.00"), (5, "0.05"), (12345, "123.45"),
                                               (-150, "-1.50")])
    def test_format_yuan(self, fen: int, text: str) -> None:
        assert format_yuan(fen) == text


def test_redemption_carries_the_gift_code() -> None:
    fields = redemption("6221880000000009", 250, 7, gift_code="TEA01")
    assert fields["49"] == "999" and fields["3"] == "900000" and fields["60"] == "000007"
    assert parse_tlv(fields["48"]) == {"GC": "TEA01"}


def test_redemption_carries_the_order_as_n12() -> None:
    fields = redemption("6221880000000009", 250, 7, order_fen=12_345)
    assert parse_tlv(fields["48"]) == {"OA": "000000012345"}
    assert "48" not in redemption("6221880000000009", 250, 7)


@pytest.mark.parametrize(("text", "points"), [
    ("+100", 100), ("-250", -250), ("+0", 0), ("100", None), ("-", None), (None, None)])
def test_pt_is_decoded(text: str | None, points: int | None) -> None:
    assert decode_points(text) == points
