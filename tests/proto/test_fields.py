"""Composite fields: 48 (TLV), 54 (balances), 74-89 (totals), 90 (original data)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto.fields import (
    OriginalData,
    TlvError,
    encode_original_data,
    encode_tlv,
    is_well_formed,
    parse_balances,
    parse_original_data,
    parse_tlv,
    render_balances,
    request_tags_fit,
    signed_points,
    totals_from_fields,
    totals_to_fields,
)
from proto.frames import Balances, Totals

tags = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)
values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=50)
amounts = st.integers(min_value=-(10**12) + 1, max_value=10**12 - 1)


class TestTlv:
    @given(st.dictionaries(tags, values, max_size=5))
    def test_round_trip(self, tlv):
        assert parse_tlv(encode_tlv(tlv)) == tlv

    @pytest.mark.parametrize("text", ["PT", "PT00", "PT005+1", "PTx01+"])
    def test_malformed(self, text):
        with pytest.raises(TlvError):
            parse_tlv(text)

    def test_signed_points(self):
        assert signed_points(100) == "+100"
        assert signed_points(-250) == "-250"
        assert signed_points(0) == "+0"


class TestBalances:
    def test_spec_example(self):
        text = render_balances(Balances(1234, 5000, 100), with_points_moved=True)
        assert text == "0001999C000000001234" "6001156C000000005000" "0090999C000000000100"

    def test_no_points_moved_block_for_inquiry(self):
        assert len(render_balances(Balances(1, 2), with_points_moved=False)) == 40

    @given(amounts, amounts, amounts)
    def test_round_trip(self, points, stored_value, moved):
        text = render_balances(Balances(points, stored_value, moved), with_points_moved=True)
        assert parse_balances(text) == {"0001999": points, "6001156": stored_value,
                                        "0090999": moved}
        assert is_well_formed("54", text)


class TestTotalsAndOriginal:
    @given(st.builds(Totals, *[st.integers(min_value=0, max_value=9_999_999_999)] * 8))
    def test_totals_round_trip(self, totals):
        fields = totals_to_fields(totals)
        assert all(is_well_formed(field, value) for field, value in fields.items())
        assert totals_from_fields(fields) == totals

    def test_original_data(self):
        original = OriginalData("0200", "000123", "1123101010")
        text = encode_original_data(original)
        assert len(text) == 42 and is_well_formed("90", text)
        assert parse_original_data(text) == original


class TestFormats:
    @pytest.mark.parametrize("field,value,ok", [
        ("4", "000000012345", True), ("4", "00000001234x", False), ("4", "12345", False),
        ("41", "TERM0001", True), ("41", "TERM\x0001", False), ("37", "ABC123456789", True),
        ("64", "0123456789ABCDEF", True), ("64", "0123456789abcdef", False),
        ("60", "000001", True), ("60", "0000001", False), ("2", "62218800000000001", True),
    ])
    def test_examples(self, field, value, ok):
        assert is_well_formed(field, value) is ok


@pytest.mark.parametrize(("tags", "fits"), [
    ({}, True), ({"GC": "TEA"}, True), ({"OA": "000000012345"}, True),
    ({"OA": "12345"}, False), ({"OA": "0000000123456"}, False), ({"OA": "00000001234+"}, False),
    ({"OA": "０００００００１２３４５"}, False),   # digits, but not ASCII
    ({"GC": "TEA", "OA": "000000012345"}, False),
])
def test_request_tags_fit(tags: dict[str, str], fits: bool) -> None:
    assert request_tags_fit(tags) is fits
