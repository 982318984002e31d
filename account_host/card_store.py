"""The host's cards in columns (issue 18: 10^6 cards under 500 MB): one dict from the PAN's
HMAC to a slot number, and each field of a card in a typed array by slot, so that a card has
no Python object of its own, nor int objects for its ids (a struct per card came to about
350 bytes with its ints and dict entry; the columns and the dict take about 220).

`Card` is a view of one slot, made per lookup (about 0.1 µs) and read and written through its
properties. Slots are never freed nor moved: a card, once known, stays until the state is
rebuilt whole (a new store), so a view stays valid for as long as its state. Only the writer
mutates the store.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence

import msgspec

from proto.codes import ResponseCode

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
        self._slots: dict[bytes, int] = {}
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
        self.standings: list[bytes | None] = []      # a memberless card's own

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, pan_hmac: bytes) -> Card | None:
        slot = self._slots.get(pan_hmac)
        return None if slot is None else Card(self, slot)

    def __getitem__(self, pan_hmac: bytes) -> Card:
        return Card(self, self._slots[pan_hmac])

    def __iter__(self) -> Iterator[Card]:
        return (Card(self, slot) for slot in range(len(self.ids)))

    def put(self, pan_hmac: bytes, row: CardRow) -> Card:
        """The card's fields set from `row`: a known card's slot overwritten, a new one added."""
        slot = self._slots.get(pan_hmac)
        if slot is None:
            self.extend([pan_hmac], [row.id], [row.alliance_id], [row.decline_code],
                        [row.expires_ordinal], [row.points_account_id],
                        [row.stored_value_account_id], [row.password], [row.password_version],
                        [row.password_tries], [row.birthday], [row.member_id], [row.standing])
            return Card(self, len(self.ids) - 1)
        card = Card(self, slot)
        assert card.id == row.id, "a PAN's HMAC names one card"
        card.alliance_id = row.alliance_id
        card.decline_code = row.decline_code
        card.expires_ordinal = row.expires_ordinal
        card.points_account_id = row.points_account_id
        card.stored_value_account_id = row.stored_value_account_id
        card.password = row.password
        card.password_version = row.password_version
        card.password_tries = row.password_tries
        card.birthday = row.birthday
        card.member_id = row.member_id
        card.standing = row.standing
        return card

    def extend(
        self, pan_hmacs: Sequence[bytes], ids: Sequence[int], alliance_ids: Sequence[int],
        decline_codes: Sequence[ResponseCode | None], expires_ordinals: Sequence[int],
        points_account_ids: Sequence[int], stored_value_account_ids: Sequence[int],
        passwords: Sequence[bytes | None], password_versions: Sequence[int],
        password_tries: Sequence[int], birthdays: Sequence[int], member_ids: Sequence[int],
        standings: Sequence[bytes | None],
    ) -> None:
        """New cards, a column at a time (the bulk load's chunks: no Python loop per field)."""
        first = len(self.ids)
        count = len(pan_hmacs)
        self._slots.update(zip(pan_hmacs, range(first, first + count), strict=True))
        assert len(self._slots) == first + count, "a PAN's HMAC names one card"
        self.ids.extend(ids)
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
        self.standings.extend(standings)
        assert all(len(column) == first + count for column in (
            self.alliance_ids, self.declines, self.expires_ordinals, self.points_account_ids,
            self.stored_value_account_ids, self.passwords, self.password_versions,
            self.password_tries, self.birthdays, self.member_ids, self.standings)), \
            "every column has a value for every card"


class Card:
    """One card of a CardStore: its slot's fields as properties (CardRow says what each is)."""

    __slots__ = ("_slot", "_store")

    def __init__(self, store: CardStore, slot: int) -> None:
        self._store = store
        self._slot = slot

    @property
    def id(self) -> int:
        return self._store.ids[self._slot]

    @property
    def alliance_id(self) -> int:
        return self._store.alliance_ids[self._slot]

    @alliance_id.setter
    def alliance_id(self, value: int) -> None:
        self._store.alliance_ids[self._slot] = value

    @property
    def decline_code(self) -> ResponseCode | None:
        return _DECLINES[self._store.declines[self._slot]]

    @decline_code.setter
    def decline_code(self, value: ResponseCode | None) -> None:
        self._store.declines[self._slot] = _DECLINE_INDEX[value]

    @property
    def expires_ordinal(self) -> int:
        return self._store.expires_ordinals[self._slot]

    @expires_ordinal.setter
    def expires_ordinal(self, value: int) -> None:
        self._store.expires_ordinals[self._slot] = value

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
    def password(self) -> bytes | None:
        return self._store.passwords[self._slot]

    @password.setter
    def password(self, value: bytes | None) -> None:
        self._store.passwords[self._slot] = value

    @property
    def password_version(self) -> int:
        return self._store.password_versions[self._slot]

    @password_version.setter
    def password_version(self, value: int) -> None:
        self._store.password_versions[self._slot] = value

    @property
    def password_tries(self) -> int:
        return self._store.password_tries[self._slot]

    @password_tries.setter
    def password_tries(self, value: int) -> None:
        self._store.password_tries[self._slot] = value

    @property
    def birthday(self) -> int:
        return self._store.birthdays[self._slot]

    @birthday.setter
    def birthday(self, value: int) -> None:
        self._store.birthdays[self._slot] = value

    @property
    def member_id(self) -> int:
        return self._store.member_ids[self._slot]

    @member_id.setter
    def member_id(self, value: int) -> None:
        self._store.member_ids[self._slot] = value

    @property
    def standing(self) -> bytes | None:
        return self._store.standings[self._slot]

    @standing.setter
    def standing(self, value: bytes | None) -> None:
        self._store.standings[self._slot] = value
