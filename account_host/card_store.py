"""The host's cards in columns (issue 18: 10^6 cards under 500 MB). Each field of a card is
in a typed array by slot, found by the PAN's HMAC through an index of flat buffers
(pan_index.py), so that a card has no Python object of its own nor int objects for its ids:
about 105 bytes a card (63 in the columns, 40 in the index), and 62 more for a memberless
card's tier standing, where a struct per card in a dict by HMAC took about 350 before any
standing.

`Card` is a view of one slot, made per lookup (the lookup and the view take about 0.6 µs
more than a dict's). Slots are never freed nor moved: a card, once known, stays until the
state is rebuilt whole (a new store). Only the writer mutates the store.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import count

import msgspec

from account_host.pan_index import PanIndex
from proto.codes import ResponseCode
from proto.tiers import STANDING_BYTES

# The decline codes a card's status gives (state.CARD_STATUS_DECLINES), kept as an index into
# this tuple in a bytearray: 0 is None (the card may transact).
_DECLINES: tuple[ResponseCode | None, ...] = (
    None, ResponseCode.CARD_LOST, ResponseCode.CARD_STOLEN, ResponseCode.DO_NOT_HONOUR)
_DECLINE_INDEX: dict[ResponseCode | None, int] = {
    code: index for index, code in enumerate(_DECLINES)}


class CardRow(msgspec.Struct, gc=False):
    """A card as read from the database (loading.py), before it goes into the store. Account
    ids are 0 until the card's first posting creates the account."""

    id: int
    alliance_id: int
    decline_code: ResponseCode | None   # from the card's status
    expires_ordinal: int                # date.toordinal() of expires_on
    points_account_id: int = 0
    stored_value_account_id: int = 0
    # The card password's verification value (None: the card has none), the times the back
    # office set it, and the wrong tries in a row under that version (account_host/
    # card_password.py). The tries are the writer's: they change as requests are applied.
    password: bytes | None = None
    password_version: int = 0
    password_tries: int = 0
    # The card's member's birthday as month * 100 + day (0: none), for birthday promotions.
    birthday: int = 0
    # The card's member (0: none): a member's cards share one tier standing (tiers/).
    member_id: int = 0
    # A card without a member: its own tier standing (proto/tiers.py), None until it counts.
    standing: bytes | None = None


class CardStore:
    """Every card of the host, by the PAN's HMAC; the columns are by slot (CardRow's fields)."""

    def __init__(self) -> None:
        self._index = PanIndex()
        self.ids = array("q")
        self.alliance_ids = array("i")
        self.declines = bytearray()                  # index into _DECLINES
        self.expires_ordinals = array("i")
        self.points_account_ids = array("q")
        self.stored_value_account_ids = array("q")
        self.passwords: list[bytes | None] = []
        self.password_versions = array("i")
        self.password_tries = array("i")
        self.birthdays = array("h")
        self.member_ids = array("q")
        # A memberless card's own standing: its number in the arena (-1: none), where each is
        # STANDING_BYTES (a 62-byte bytes object would take 96, and the list's 8 more).
        self.standing_numbers = array("i")
        self.standing_arena = bytearray()

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, pan_hmac: bytes) -> Card | None:
        slot = self._index.slot_of(pan_hmac)
        return None if slot < 0 else Card(self, slot)

    def __getitem__(self, pan_hmac: bytes) -> Card:
        slot = self._index.slot_of(pan_hmac)
        if slot < 0:
            raise KeyError(pan_hmac)
        return Card(self, slot)

    def __iter__(self) -> Iterator[Card]:
        return (Card(self, slot) for slot in range(len(self.ids)))

    def index_all(self) -> None:
        self._index.index_all()

    def put(self, pan_hmac: bytes, row: CardRow) -> Card:
        """The card's fields set from `row`: a known card's slot overwritten, a new one added."""
        slot = self._index.slot_of(pan_hmac)
        if slot < 0:
            self.extend([pan_hmac], [row.id], [row.alliance_id], [row.decline_code],
                        [row.expires_ordinal], [row.points_account_id],
                        [row.stored_value_account_id], [row.password], [row.password_version],
                        [row.password_tries], [row.birthday], [row.member_id], [row.standing])
            return Card(self, len(self.ids) - 1)
        assert self.ids[slot] == row.id, "a PAN's HMAC names one card"
        self.alliance_ids[slot] = row.alliance_id
        self.declines[slot] = _DECLINE_INDEX[row.decline_code]
        self.expires_ordinals[slot] = row.expires_ordinal
        self.points_account_ids[slot] = row.points_account_id
        self.stored_value_account_ids[slot] = row.stored_value_account_id
        self.passwords[slot] = row.password
        self.password_versions[slot] = row.password_version
        self.password_tries[slot] = row.password_tries
        self.birthdays[slot] = row.birthday
        self.member_ids[slot] = row.member_id
        card = Card(self, slot)
        card.standing = row.standing
        return card

    def extend(
        self, pan_hmacs: Iterable[bytes], ids: Iterable[int], alliance_ids: Iterable[int],
        decline_codes: Iterable[ResponseCode | None], expires_ordinals: Iterable[int],
        points_account_ids: Iterable[int], stored_value_account_ids: Iterable[int],
        passwords: Iterable[bytes | None], password_versions: Iterable[int],
        password_tries: Iterable[int], birthdays: Iterable[int], member_ids: Iterable[int],
        standings: Sequence[bytes | None], *, index: bool = True,
    ) -> None:
        """New cards, a column at a time (the bulk load's chunks: no Python loop per field).
        index=False: not found by their HMAC until `index_all` (PanIndex.extend says why)."""
        first = len(self.ids)
        self._index.extend(pan_hmacs, index=index)
        self.ids.extend(ids)
        added = len(self.ids) - first
        self.alliance_ids.extend(alliance_ids)
        self.declines.extend([_DECLINE_INDEX[code] for code in decline_codes])
        self.expires_ordinals.extend(expires_ordinals)
        self.points_account_ids.extend(points_account_ids)
        self.stored_value_account_ids.extend(stored_value_account_ids)
        self.passwords.extend(passwords)
        self.password_versions.extend(password_versions)
        self.password_tries.extend(password_tries)
        self.birthdays.extend(birthdays)
        self.member_ids.extend(member_ids)
        self._extend_standings(standings)
        assert all(len(column) == first + added for column in (self._index,
            self.alliance_ids, self.declines, self.expires_ordinals, self.points_account_ids,
            self.stored_value_account_ids, self.passwords, self.password_versions,
            self.password_tries, self.birthdays, self.member_ids, self.standing_numbers)), \
            "every column has a value for every card"

    def _extend_standings(self, standings: Sequence[bytes | None]) -> None:
        first = len(self.standing_arena) // STANDING_BYTES
        numbers = count(first)
        self.standing_numbers.extend([-1 if standing is None else next(numbers)
                                      for standing in standings])
        arena = b"".join(standing for standing in standings if standing is not None)
        assert len(arena) == STANDING_BYTES * (next(numbers) - first), \
            "standings of STANDING_BYTES each"
        self.standing_arena += arena


class Card:
    """One card of a CardStore (CardRow says what each field is), made per lookup and used
    within one request. The fields only a re-read of the card changes (its id, alliance,
    expiry, member and password) are copied when the view is made, so that reading them costs
    what a struct's field does (a request reads them a dozen times); those the writer changes
    (decline code, account ids, tries, standing) are properties on the columns."""

    __slots__ = ("_slot", "_store", "alliance_id", "expires_ordinal", "id", "member_id",
                 "password")

    def __init__(self, store: CardStore, slot: int) -> None:
        self._store = store
        self._slot = slot
        self.id: int = store.ids[slot]
        self.alliance_id: int = store.alliance_ids[slot]
        self.expires_ordinal: int = store.expires_ordinals[slot]
        self.member_id: int = store.member_ids[slot]
        self.password: bytes | None = store.passwords[slot]

    @property
    def decline_code(self) -> ResponseCode | None:
        return _DECLINES[self._store.declines[self._slot]]

    @decline_code.setter
    def decline_code(self, value: ResponseCode | None) -> None:
        self._store.declines[self._slot] = _DECLINE_INDEX[value]

    @property
    def points_account_id(self) -> int:
        return self._store.points_account_ids[self._slot]

    @points_account_id.setter
    def points_account_id(self, value: int) -> None:
        self._store.points_account_ids[self._slot] = value

    @property
    def stored_value_account_id(self) -> int:
        return self._store.stored_value_account_ids[self._slot]

    @stored_value_account_id.setter
    def stored_value_account_id(self, value: int) -> None:
        self._store.stored_value_account_ids[self._slot] = value

    @property
    def password_version(self) -> int:
        return self._store.password_versions[self._slot]

    @property
    def password_tries(self) -> int:
        return self._store.password_tries[self._slot]

    @password_tries.setter
    def password_tries(self, value: int) -> None:
        self._store.password_tries[self._slot] = value

    @property
    def birthday(self) -> int:
        return self._store.birthdays[self._slot]

    @property
    def standing(self) -> bytes | None:
        store = self._store
        number = store.standing_numbers[self._slot]
        if number < 0:
            return None
        start = number * STANDING_BYTES
        return bytes(store.standing_arena[start:start + STANDING_BYTES])

    @standing.setter
    def standing(self, value: bytes | None) -> None:
        """Written in place; a standing taken away (the card got a member) leaves its bytes
        unused in the arena, as rare as that is."""
        store = self._store
        number = store.standing_numbers[self._slot]
        if value is None:
            store.standing_numbers[self._slot] = -1
            return
        assert len(value) == STANDING_BYTES
        if number < 0:
            store.standing_numbers[self._slot] = len(store.standing_arena) // STANDING_BYTES
            store.standing_arena += value
        else:
            start = number * STANDING_BYTES
            store.standing_arena[start:start + STANDING_BYTES] = value
