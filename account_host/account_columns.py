"""Balances and points lots by account id, in pages of flat columns (issue 18: 10^6 cards
under 500 MB). A dict of 10^6 balances keeps an entry and two int objects per account, about
100 bytes; a page keeps 8 bytes a balance and one of presence. Lots keep their bytes objects,
but in a list by account id rather than a dict entry with an int key (about 70 bytes less).

Account ids come from the host's own counter (identifiers.py), so they are dense: 2^12 ids a
page, found by a dict of pages, which also bears a range of ids far from the others (another
partition's base) without a column over the gap. Only the writer mutates them.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, MutableMapping
from typing import TypeVar

_PAGE_BITS = 12
_PAGE_IDS = 1 << _PAGE_BITS
_IN_PAGE = _PAGE_IDS - 1
_ZEROS = bytes(8 * _PAGE_IDS)
_Page = TypeVar("_Page")


class Balances(MutableMapping[int, int]):
    """Account id -> balance (a signed 64-bit integer, as the column). An account is present
    once it exists, balance 0 or not: `in` tells whether it was ever created."""

    __slots__ = ("_count", "_pages")

    def __init__(self) -> None:
        # page number -> (balances, presence: 1 where the account exists)
        self._pages: dict[int, tuple[array[int], bytearray]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, account_id: object) -> bool:
        slot = _slot_of(self._pages, account_id)
        return slot is not None and slot[0][1][slot[1]] == 1

    def __getitem__(self, account_id: int) -> int:
        page = self._pages.get(account_id >> _PAGE_BITS) if account_id >= 0 else None
        index = account_id & _IN_PAGE
        if page is None or not page[1][index]:
            raise KeyError(account_id)
        return page[0][index]

    def get(self, account_id: int, default: int = 0) -> int:   # type: ignore[override]
        page = self._pages.get(account_id >> _PAGE_BITS) if account_id >= 0 else None
        index = account_id & _IN_PAGE
        if page is None or not page[1][index]:
            return default
        return page[0][index]

    def __setitem__(self, account_id: int, balance: int) -> None:
        assert account_id >= 0, "account ids are positive"
        page = self._pages.get(account_id >> _PAGE_BITS)
        if page is None:
            page = self._pages[account_id >> _PAGE_BITS] = (
                array("q", _ZEROS), bytearray(_PAGE_IDS))
        index = account_id & _IN_PAGE
        page[0][index] = balance
        if not page[1][index]:
            page[1][index] = 1
            self._count += 1

    def setdefault(self, account_id: int, default: int = 0) -> int:
        if account_id in self:
            return self[account_id]
        self[account_id] = default
        return default

    def update_from(self, account_ids: Iterable[int], balances: Iterable[int]) -> None:
        """Set many, as a load does (a chunk of rows in one call, a page looked up once per
        run of ids in it: about half the time of setting them one by one)."""
        pages, count = self._pages, self._count
        number, column, present = -1, array("q"), bytearray()
        for account_id, balance in zip(account_ids, balances, strict=True):
            if account_id >> _PAGE_BITS != number:
                assert account_id >= 0, "account ids are positive"
                number = account_id >> _PAGE_BITS
                page = pages.get(number)
                if page is None:
                    page = pages[number] = (array("q", _ZEROS), bytearray(_PAGE_IDS))
                column, present = page
            index = account_id & _IN_PAGE
            column[index] = balance
            if not present[index]:
                present[index] = 1
                count += 1
        self._count = count

    def __delitem__(self, account_id: int) -> None:
        if account_id not in self:
            raise KeyError(account_id)
        page = self._pages[account_id >> _PAGE_BITS]
        index = account_id & _IN_PAGE
        page[0][index] = 0
        page[1][index] = 0
        self._count -= 1

    def __iter__(self) -> Iterator[int]:
        for number in sorted(self._pages):
            base = number << _PAGE_BITS
            present = self._pages[number][1]
            yield from (base + index for index in range(_PAGE_IDS) if present[index])


class AccountLots(MutableMapping[int, bytes]):
    """Points account id -> its lots (expiry/lots.py's packed form), for accounts that have
    any: an account without lots is absent, as in a dict."""

    __slots__ = ("_count", "_pages")

    def __init__(self) -> None:
        self._pages: dict[int, list[bytes | None]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, account_id: object) -> bool:
        slot = _slot_of(self._pages, account_id)
        return slot is not None and slot[0][slot[1]] is not None

    def __getitem__(self, account_id: int) -> bytes:
        page = self._pages.get(account_id >> _PAGE_BITS) if account_id >= 0 else None
        packed = None if page is None else page[account_id & _IN_PAGE]
        if packed is None:
            raise KeyError(account_id)
        return packed

    def get(self, account_id: int, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        page = self._pages.get(account_id >> _PAGE_BITS) if account_id >= 0 else None
        packed = None if page is None else page[account_id & _IN_PAGE]
        return default if packed is None else packed

    def __setitem__(self, account_id: int, packed: bytes) -> None:
        assert account_id >= 0 and packed, "an account without lots is absent"
        page = self._pages.get(account_id >> _PAGE_BITS)
        if page is None:
            page = self._pages[account_id >> _PAGE_BITS] = [None] * _PAGE_IDS
        index = account_id & _IN_PAGE
        if page[index] is None:
            self._count += 1
        page[index] = packed

    def update_from(self, account_ids: Iterable[int], lots: Iterable[bytes | None]) -> None:
        """Set many, as a load does; an empty or None `lots` leaves its account as it is."""
        pages, count = self._pages, self._count
        number, page = -1, []
        for account_id, packed in zip(account_ids, lots, strict=True):
            if not packed:
                continue
            if account_id >> _PAGE_BITS != number:
                assert account_id >= 0, "account ids are positive"
                number = account_id >> _PAGE_BITS
                page = pages.setdefault(number, [None] * _PAGE_IDS)
            index = account_id & _IN_PAGE
            if page[index] is None:
                count += 1
            page[index] = packed
        self._count = count

    def __delitem__(self, account_id: int) -> None:
        if account_id not in self:
            raise KeyError(account_id)
        self._pages[account_id >> _PAGE_BITS][account_id & _IN_PAGE] = None
        self._count -= 1

    def __iter__(self) -> Iterator[int]:
        for number in sorted(self._pages):
            base = number << _PAGE_BITS
            page = self._pages[number]
            yield from (base + index for index in range(_PAGE_IDS) if page[index] is not None)


def _slot_of(pages: dict[int, _Page], account_id: object) -> tuple[_Page, int] | None:
    """The page of `account_id` and its index there, or None: no page yet, or not an account
    id at all (what `in` may be asked)."""
    if type(account_id) is not int or account_id < 0:
        return None
    page = pages.get(account_id >> _PAGE_BITS)
    return None if page is None else (page, account_id & _IN_PAGE)
