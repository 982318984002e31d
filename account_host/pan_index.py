"""The card store's index: PAN HMAC -> slot, as an open-addressing hash table over two flat
buffers (the HMACs by slot in one bytearray, the table an array of slots), because a dict
would keep a 32-byte bytes object, an int object and an entry for every card: about 150
bytes a card against about 40 here (issue 18: 10^6 cards under 500 MB).

Linear probing, the table at most half full (about 2 probes a lookup, in about 0.5 µs);
slots are never removed, so there are no tombstones.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

HMAC_BYTES = 32   # HMAC-SHA256 (proto.keys.cards.pan_hmac)
_EMPTY = -1
# A new table's size (a power of two): a state with no cards yet (tests, a first start)
# should cost next to nothing; a bulk load sizes the table once per chunk.
_TABLE_SIZE_MIN = 1024
# HMACs copied out at a time to place them again: 32,768 of them, a megabyte.
_COPY_BYTES = HMAC_BYTES * 32_768


class PanIndex:
    """Slot numbers by PAN HMAC; the slots are 0, 1, 2, ... in the order the HMACs came."""

    def __init__(self) -> None:
        self._hmacs = bytearray()          # slot's HMAC at slot * HMAC_BYTES
        self._table = array("i", [_EMPTY]) * _TABLE_SIZE_MIN
        self._mask = _TABLE_SIZE_MIN - 1
        self._indexed = 0                  # slots below this are in the table

    def __len__(self) -> int:
        return len(self._hmacs) // HMAC_BYTES

    def slot_of(self, pan_hmac: bytes) -> int:
        """The HMAC's slot, or -1."""
        if len(pan_hmac) != HMAC_BYTES:
            return _EMPTY
        table, mask, hmacs = self._table, self._mask, self._hmacs
        index = hash(pan_hmac) & mask
        while (slot := table[index]) != _EMPTY:
            # startswith at the slot's offset: the comparison without a slice's copy.
            if hmacs.startswith(pan_hmac, slot * HMAC_BYTES):
                return slot
            index = (index + 1) & mask
        return _EMPTY

    def hmac_of(self, slot: int) -> bytes:
        start = slot * HMAC_BYTES
        return bytes(self._hmacs[start:start + HMAC_BYTES])

    def extend(self, pan_hmacs: Iterable[bytes], *, index: bool = True) -> None:
        """New HMACs, in the slots that follow the last; each must be new to the index.
        index=False leaves them out of the table until `index_all` (the bulk load's chunks:
        one table at the final size instead of a rehash at every doubling, about 1 s at
        10^6), and slot_of does not find them until then."""
        pan_hmacs = list(pan_hmacs)
        joined = b"".join(pan_hmacs)
        assert len(joined) == HMAC_BYTES * len(pan_hmacs), "HMAC-SHA256s, of 32 bytes each"
        self._hmacs += joined
        if index:
            self.index_all()

    def index_all(self) -> None:
        """Every slot not yet in the table placed, in a larger table if it would be more
        than half full (then every slot placed again)."""
        count = len(self)
        size = len(self._table)
        first = self._indexed
        if count * 2 > size:
            while count * 2 > size:
                size *= 2
            self._table = array("i", [_EMPTY]) * size
            self._mask = size - 1
            first = 0
        if first < count:
            self._place(self._hmacs_from(first), first)
        self._indexed = count

    def _hmacs_from(self, first: int) -> Iterator[bytes]:
        """The HMACs of slot `first` on, as bytes (a block copied at a time: the peak stays
        small, and each HMAC is one slice)."""
        hmacs = self._hmacs
        for block_start in range(first * HMAC_BYTES, len(hmacs), _COPY_BYTES):
            block = bytes(hmacs[block_start:block_start + _COPY_BYTES])
            yield from (block[start:start + HMAC_BYTES]
                        for start in range(0, len(block), HMAC_BYTES))

    def _place(self, pan_hmacs: Iterable[bytes], first: int) -> None:
        """Each HMAC's slot (from `first` on) in the table; the loop of the bulk load, inline."""
        table, mask, hmacs = self._table, self._mask, self._hmacs
        for slot, pan_hmac in enumerate(pan_hmacs, first):
            index = hash(pan_hmac) & mask
            while (taken := table[index]) != _EMPTY:
                assert not hmacs.startswith(pan_hmac, taken * HMAC_BYTES), \
                    "a PAN's HMAC names one card"
                index = (index + 1) & mask
            table[index] = slot
