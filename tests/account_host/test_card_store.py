"""The card store (account_host/card_store.py) and its index (pan_index.py) against plain
dicts: random cards added in chunks and one at a time, overwritten and mutated through their
views, read back the same; and the index through its growth."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from account_host.card_store import CardRow, CardStore
from account_host.pan_index import HMAC_BYTES, PanIndex
from proto.codes import ResponseCode
from proto.tiers import STANDING_BYTES

HMACS = st.binary(min_size=HMAC_BYTES, max_size=HMAC_BYTES)
STANDINGS = st.none() | st.binary(min_size=STANDING_BYTES, max_size=STANDING_BYTES)
ROWS = st.builds(
    CardRow,
    id=st.integers(1, 2**62), alliance_id=st.integers(1, 2**31 - 1),
    decline_code=st.sampled_from([None, ResponseCode.CARD_LOST, ResponseCode.CARD_STOLEN,
                                  ResponseCode.DO_NOT_HONOUR]),
    expires_ordinal=st.integers(1, 3_652_059), points_account_id=st.integers(0, 2**62),
    stored_value_account_id=st.integers(0, 2**62), password=st.none() | st.binary(max_size=16),
    password_version=st.integers(0, 2**31 - 1), password_tries=st.integers(0, 3),
    birthday=st.integers(0, 1231), member_id=st.integers(0, 2**62), standing=STANDINGS)


def _read(store: CardStore, pan_hmac: bytes) -> CardRow:
    card = store[pan_hmac]
    return CardRow(card.id, card.alliance_id, card.decline_code, card.expires_ordinal,
                   card.points_account_id, card.stored_value_account_id, card.password,
                   card.password_version, card.password_tries, card.birthday, card.member_id,
                   card.standing)


class TestCardStore:
    @given(st.lists(st.tuples(HMACS, ROWS), max_size=40, unique_by=lambda pair: pair[0]),
           st.integers(1, 40), st.lists(st.tuples(st.integers(0, 39), ROWS), max_size=10))
    def test_reads_what_was_put(
        self, cards: list[tuple[bytes, CardRow]], bulk: int,
        updates: list[tuple[int, CardRow]],
    ) -> None:
        store = CardStore()
        if cards[:bulk]:   # CardStore.extend's columns follow CardRow's fields
            store.extend(*zip(*((pan_hmac, *msgspec.structs.astuple(row))
                                for pan_hmac, row in cards[:bulk]), strict=True))
        for pan_hmac, row in cards[bulk:]:
            store.put(pan_hmac, row)
        model = dict(cards)
        for position, row in updates:
            if position < len(cards):
                pan_hmac = cards[position][0]
                row.id = model[pan_hmac].id   # a PAN's HMAC names one card
                store.put(pan_hmac, row)
                model[pan_hmac] = row
        assert len(store) == len(model)
        for pan_hmac, row in model.items():
            assert _read(store, pan_hmac) == row
        assert store.get(b"\0" * HMAC_BYTES) is None or b"\0" * HMAC_BYTES in model

    @given(STANDINGS, STANDINGS, STANDINGS)
    def test_a_standing_written_through_the_view(
        self, first: bytes | None, second: bytes | None, third: bytes | None,
    ) -> None:
        store = CardStore()
        store.put(b"a" * HMAC_BYTES, CardRow(1, 1, None, 800_000, standing=first))
        store.put(b"b" * HMAC_BYTES, CardRow(2, 1, None, 800_000, standing=second))
        card = store[b"a" * HMAC_BYTES]
        card.standing = third
        assert store[b"a" * HMAC_BYTES].standing == third
        assert store[b"b" * HMAC_BYTES].standing == second

    def test_mutations_through_a_view(self) -> None:
        store = CardStore()
        store.put(b"a" * HMAC_BYTES, CardRow(1, 1, None, 800_000))
        card = store[b"a" * HMAC_BYTES]
        card.decline_code = ResponseCode.DO_NOT_HONOUR
        card.points_account_id = 2**40
        card.password_tries = 2
        again = store.get(b"a" * HMAC_BYTES)
        assert again is not None
        assert (again.decline_code, again.points_account_id, again.password_tries) == (
            ResponseCode.DO_NOT_HONOUR, 2**40, 2)

    def test_an_unknown_hmac(self) -> None:
        store = CardStore()
        assert store.get(b"x" * HMAC_BYTES) is None
        assert store.get(b"x") is None
        with pytest.raises(KeyError):
            store[b"x" * HMAC_BYTES]


class TestPanIndex:
    @given(st.lists(HMACS, unique=True, max_size=3_000), st.lists(HMACS, max_size=50))
    def test_finds_every_slot_through_growth(
        self, hmacs: list[bytes], others: list[bytes],
    ) -> None:
        index = PanIndex()
        half = len(hmacs) // 2
        index.extend(hmacs[:half], index=False)   # the bulk load's way
        assert all(index.slot_of(pan_hmac) == -1 for pan_hmac in hmacs[:half])
        index.index_all()
        for pan_hmac in hmacs[half:]:
            index.extend([pan_hmac])
        assert len(index) == len(hmacs)
        for slot, pan_hmac in enumerate(hmacs):
            assert index.slot_of(pan_hmac) == slot
            assert index.hmac_of(slot) == pan_hmac
        known = set(hmacs)
        for pan_hmac in others:
            assert (index.slot_of(pan_hmac) >= 0) == (pan_hmac in known)

    def test_an_hmac_is_added_once(self) -> None:
        index = PanIndex()
        index.extend([b"a" * HMAC_BYTES])
        with pytest.raises(AssertionError):
            index.extend([b"a" * HMAC_BYTES])

    def test_a_prefix_or_a_longer_key_is_not_a_card(self) -> None:
        index = PanIndex()
        index.extend([b"a" * HMAC_BYTES, b"b" * HMAC_BYTES])
        assert index.slot_of(b"a" * 16) == -1
        assert index.slot_of(b"a" * HMAC_BYTES + b"b" * HMAC_BYTES) == -1
