"""The change-notification payload: every change round-trips; unknown payloads are ignored."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proto.changes import Change, Table, decode_change, encode_change

changes = st.builds(Change, st.sampled_from(Table),
                    st.none() | st.integers(min_value=1, max_value=2**63 - 1))


@given(changes)
def test_every_change_round_trips(change: Change) -> None:
    assert decode_change(encode_change(change)) == change


@given(st.text(max_size=40))
def test_a_payload_is_one_change_spelled_one_way_or_none(payload: str) -> None:
    change = decode_change(payload)
    assert change is None or encode_change(change) == payload


def test_the_wire_form_is_the_table_and_the_row() -> None:
    assert encode_change(Change(Table.CARDS, 17)) == "cards:17"
    assert encode_change(Change(Table.CARD_RANGES)) == "card_ranges"
    assert decode_change("business_days") == Change(Table.BUSINESS_DAYS)


def test_payloads_of_another_version_are_not_changes() -> None:
    for payload in ("", "members", "cards:", "cards:x", "cards:-1", "cards:0", "cards:1:2",
                    "cards:007", "cards:+7", "cards: 7"):
        assert decode_change(payload) is None, payload
