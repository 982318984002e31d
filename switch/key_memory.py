"""Which host each card frame's retransmission key went to, for `window_s`: a frame whose key is
remembered goes to that host whatever its PAN, so that the host answers the first answer again
or 94 (host interface §4: the content digest includes field 2), where routing by PAN would
send a same-key-other-PAN frame to a host that never saw the key (docs/plans/partitions.md §4).

Sans I/O: times are Unix seconds, given by the caller. Only with two or more hosts; one host
needs none of this, and the forwarder does not build it.

Layout, 9 bytes a key and nothing allocated per key once its minute is closed: the keys of the
current minute in a dict; each closed minute as one sorted `array('q')`, newest first (a
retransmission comes seconds after its original). A bisect over a whole array reads ~22 of its
items, each made a Python int, 15 times for a miss (40 us measured); so each closed minute also
has `starts`, where each top-`prefix_bits` prefix of the digests begins (digests are uniform:
about 4 keys a prefix, a byte a key), and a lookup bisects only its prefix's few. An entry is
the key's 64-bit
digest (`proto.retransmission.key_digest`) with its low `index_bits` replaced by the host's
index (1 bit for 2 hosts, 8 for 256), so one sort and one bisect serve key and host. Two keys
equal in the other bits are taken for one: with 2 hosts (63 bits) and 4.5 * 10^6 keys held, a
new key matches a held one with probability 5 * 10^-13 (docs/operations.md "Retransmission
keys in the switch").

Closing a minute: when it ends, its dict is set aside as it is (no copy: the frame whose lookup
ends the minute only swaps it for a new one) and still answers lookups, while `step` (the
forwarder's sweep, about once a second) builds its sorted array in slices of about `STEP_ITEMS`
keys moved a call: first sorted runs of `RUN_ITEMS` keys taken from the dict, then the array
range by range of the prefixes, each range's keys cut from every run and merged (timsort
merges sorted runs in linear time), with that range's `starts`. Sorting 300,000 keys and their
index at once stalled the loop 0.3-0.9 s once a minute; sliced, a step takes 3-8 ms and a
minute at 5,000 keys/s is sorted in about 36 steps. A sweep that falls behind leaves more dicts
to look in (a dict's `get` more for a miss) and works harder (STEP_ITEMS a minute waiting).

Bounds: a key is found for at least `window_s` after it was remembered, and forgotten at most
one bucket (BUCKET_S) later, since a bucket goes when its newest key is past the window. Past
`keys_max` the oldest bucket goes early; `held_window_s` says how far back the memory reaches
(also after a restart, until every host's digests are in: `restore`, `seal`).
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, insort
from collections.abc import Iterator
from itertools import islice

# One dict per minute, sorted in slices once closed; 15 closed minutes keep a lookup's miss to
# 15 bisects.
BUCKET_S = 60
INDEXES_MAX = 256   # partition numbers are 8 bits (migration 029)

# A step moves at most STEP_ITEMS keys (for each minute waiting) and one unit more: a sorted
# run of RUN_ITEMS, or one range of the array (RANGE_ITEMS on average, digests being uniform).
STEP_ITEMS = 16_384
RUN_ITEMS = 16_384
RANGE_ITEMS = 4_096

# Keys a prefix of `starts` covers, on average: 2 bisect steps, and a byte a key for `starts`.
_KEYS_PER_PREFIX = 4
_PREFIX_BITS_MAX = 24   # 16 * 10^6 prefixes: a minute of 64 * 10^6 keys


def _prefix_bits(keys: int) -> int:
    return min(_PREFIX_BITS_MAX, max(1, (keys // _KEYS_PER_PREFIX).bit_length()))


class _Bucket:
    """A closed minute: sorted entries, where each prefix begins, and the time of its newest
    key (it goes when that one is past the window)."""

    __slots__ = ("entries", "half", "minute", "newest_s", "shift", "starts")

    def __init__(self, minute: int, newest_s: int, entries: array[int], starts: array[int],
                 bits: int) -> None:
        self.minute = minute
        self.newest_s = newest_s
        self.entries = entries
        self.starts = starts
        self.shift = 64 - bits
        self.half = 1 << (bits - 1)   # signed prefixes -half..half-1 -> 0..2*half-1

    @classmethod
    def of_sorted(cls, minute: int, newest_s: int, entries: array[int]) -> _Bucket:
        """At once, for a restart's digests (`seal`)."""
        bits = _prefix_bits(len(entries))
        shift, half = 64 - bits, 1 << (bits - 1)
        prefixes = [entry >> shift for entry in entries]
        starts = array("I", [bisect_left(prefixes, prefix) for prefix in range(-half, half + 1)])
        return cls(minute, newest_s, entries, starts, bits)

    def __lt__(self, other: _Bucket) -> bool:   # for insort: oldest first
        return self.newest_s < other.newest_s


class _Closing:
    """A minute being closed: its dict answers lookups while `step` builds its bucket."""

    __slots__ = ("bits", "cursors", "entries", "filled", "keys", "minute", "newest_s",
                 "per_range", "range_at", "ranges", "runs", "starts", "unread")

    def __init__(self, minute: int, newest_s: int, keys: dict[int, int],
                 range_items: int) -> None:
        self.minute = minute
        self.newest_s = newest_s
        self.keys = keys
        self.unread: Iterator[int] | None = iter(keys.values())   # not changed once closing
        self.runs: list[list[int]] = []
        self.cursors: list[int] = []
        self.bits = _prefix_bits(len(keys))
        range_bits = min(self.bits, (len(keys) // range_items).bit_length())
        self.ranges = 1 << range_bits
        self.per_range = 1 << (self.bits - range_bits)   # prefixes a range
        self.range_at = 0
        self.entries = array("q")   # its exact size once the runs are sorted, then filled
        self.starts = array("I")
        self.filled = 0

    def step(self, run_items: int) -> int:
        """One unit of work: a sorted run, or one range of the array. Returns the keys moved."""
        if self.unread is not None:
            run = sorted(islice(self.unread, run_items))
            if len(run) < run_items:
                self.unread = None
            if run:
                self.runs.append(run)
                self.cursors.append(0)
            return len(run)
        if not self.range_at:
            self.entries = array("q", bytes(8 * len(self.keys)))
            self.starts = array("I", bytes(4 * ((1 << self.bits) + 1)))
        shift, half = 64 - self.bits, 1 << (self.bits - 1)
        low = self.range_at * self.per_range
        high_value = (low + self.per_range - half) << shift
        piece: list[int] = []
        cursors = self.cursors
        for at, run in enumerate(self.runs):
            end = bisect_left(run, high_value, cursors[at])
            piece.extend(run[cursors[at]:end])
            cursors[at] = end
        piece.sort()   # a few sorted runs: merged
        offset = self.filled
        self.starts[low:low + self.per_range] = array("I", [
            offset + bisect_left(piece, (prefix - half) << shift)
            for prefix in range(low, low + self.per_range)])
        self.filled = offset + len(piece)
        self.entries[offset:self.filled] = array("q", piece)
        self.range_at += 1
        return len(piece)

    @property
    def done(self) -> bool:
        return self.unread is None and self.range_at == self.ranges

    def bucket(self) -> _Bucket:
        assert self.done and self.filled == len(self.entries)
        self.starts[-1] = self.filled
        return _Bucket(self.minute, self.newest_s, self.entries, self.starts, self.bits)


class KeyMemory:
    """Retransmission key digests -> host index, for `window_s`, at most `keys_max` of them."""

    def __init__(self, indexes: int, window_s: int, keys_max: int, now_s: int, *,
                 run_items: int = RUN_ITEMS, range_items: int = RANGE_ITEMS) -> None:
        assert 2 <= indexes <= INDEXES_MAX, "one host needs no key memory"
        assert window_s > 0 and keys_max > 0 and run_items > 0 and range_items > 0
        self.index_bits = (indexes - 1).bit_length()
        self._index_mask = (1 << self.index_bits) - 1
        self._digest_mask = ~self._index_mask
        self.window_s = window_s
        self.keys_max = keys_max
        self._run_items = run_items
        self._range_items = range_items
        self._current: dict[int, int] = {}   # masked digest -> entry
        self._current_minute = now_s // BUCKET_S
        self._current_until_s = (self._current_minute + 1) * BUCKET_S
        self._current_newest_s = now_s
        self._closing: list[_Closing] = []   # oldest first, the first being built
        self._closed: list[_Bucket] = []     # oldest first (by newest_s)
        self._closed_keys = 0                # closing and closed
        self._staged: dict[int, tuple[int, list[array[int]]]] = {}   # minute -> newest, parts
        # Every key remembered from then on is held (a new memory knows nothing older).
        self.held_from_s = now_s
        self.moved = 0   # keys moved by `step` so far: what it costs

    def __len__(self) -> int:
        return len(self._current) + self._closed_keys

    def held_window_s(self, now_s: int) -> int:
        """How far back every key is held: window_s, less after a restart whose digests are
        not all in, or when keys_max made the oldest bucket go early."""
        return max(0, min(self.window_s, now_s - self.held_from_s))

    def lookup(self, digest: int, now_s: int) -> int | None:
        """The host index `digest`'s key went to, if it is remembered."""
        if now_s >= self._current_until_s or (
                self._closed and self._closed[0].newest_s <= now_s - self.window_s) or (
                self._closing and self._closing[0].newest_s <= now_s - self.window_s):
            self._advance(now_s)
        masked = digest & self._digest_mask
        entry = self._current.get(masked)
        if entry is not None:
            return entry & self._index_mask
        for closing in self._closing:
            entry = closing.keys.get(masked)
            if entry is not None:
                return entry & self._index_mask
        digest_mask = self._digest_mask
        for bucket in reversed(self._closed):   # a bisect in the prefix's few: 15 times a miss
            at = (masked >> bucket.shift) + bucket.half
            starts = bucket.starts
            high = starts[at + 1]
            entries = bucket.entries
            at = bisect_left(entries, masked, starts[at], high)
            if at < high and entries[at] & digest_mask == masked:
                return entries[at] & self._index_mask
        return None

    def remember(self, digest: int, index: int, now_s: int) -> None:
        """`digest`'s key went to host `index` at `now_s` (after a lookup found nothing)."""
        assert 0 <= index <= self._index_mask
        if now_s >= self._current_until_s:
            self._advance(now_s)
        masked = digest & self._digest_mask
        self._current[masked] = masked | index
        if now_s > self._current_newest_s:
            self._current_newest_s = now_s
        if len(self._current) + self._closed_keys > self.keys_max:
            self._shed()

    def step(self, now_s: int, items_max: int = STEP_ITEMS) -> int:
        """The sweep's share, about once a second: close the minute if it has ended, forget
        what is past the window, and sort closed minutes on: at most `items_max` keys moved
        for each minute waiting (one but when the sweep falls behind), and one run or range
        more. Returns the keys moved."""
        self._advance(now_s)
        moved = 0
        closing = self._closing
        items_max *= len(closing)   # a sweep behind catches up
        while closing and moved < items_max:
            oldest = closing[0]
            moved += oldest.step(self._run_items)
            if oldest.done:
                closing.pop(0)
                insort(self._closed, oldest.bucket())
        self.moved += moved
        return moved

    # Restoring after a restart: the hosts' digests, staged, then sealed into buckets.

    def restore(self, digests: bytes, index: int, received_at_s: int, now_s: int) -> int:
        """Stage a host's digests (8 bytes each, big-endian), none received after
        `received_at_s`; they are looked up once `seal` is called. Returns how many."""
        assert len(digests) % 8 == 0 and 0 <= index <= self._index_mask
        if received_at_s <= now_s - self.window_s or not digests:
            return 0
        part = array("q")
        part.frombytes(digests)
        if sys.byteorder == "little":
            part.byteswap()
        mask = self._digest_mask
        part = array("q", [value & mask | index for value in part])
        minute = received_at_s // BUCKET_S
        newest_s, parts = self._staged.get(minute, (received_at_s, []))
        parts.append(part)
        self._staged[minute] = (max(newest_s, received_at_s), parts)
        return len(part)

    def seal(self, now_s: int, *, held_from_s: int | None = None) -> None:
        """Make the staged digests found: each minute merged with its closed bucket. Given
        `held_from_s` (every host's digests from then on are in), the held window says so.
        Not sliced, as a restart's digests come at once: minutes being closed are finished."""
        while self._closing:
            self.step(now_s, sys.maxsize)
        staged, self._staged = self._staged, {}
        by_minute = {bucket.minute: bucket for bucket in self._closed}
        for minute, (newest_s, parts) in staged.items():
            merged: list[int] = []
            for part in parts:
                merged.extend(part)
            old = by_minute.pop(minute, None)
            if old is not None:
                self._closed.remove(old)
                self._closed_keys -= len(old.entries)
                merged.extend(old.entries)
                newest_s = max(newest_s, old.newest_s)
            merged.sort()
            bucket = _Bucket.of_sorted(minute, newest_s, array("q", merged))
            insort(self._closed, bucket)
            self._closed_keys += len(bucket.entries)
        if held_from_s is not None:
            self.held_from_s = min(self.held_from_s, held_from_s)
        self._advance(now_s)
        if len(self) > self.keys_max:
            self._shed()

    # Buckets.

    def _advance(self, now_s: int) -> None:
        """Set the current minute aside to be closed when it has ended, and forget buckets
        past the window."""
        if now_s >= self._current_until_s:
            self._close_current()
            self._current_minute = now_s // BUCKET_S
            self._current_until_s = (self._current_minute + 1) * BUCKET_S
            self._current_newest_s = now_s
        horizon_s = now_s - self.window_s
        closed = self._closed
        while closed and closed[0].newest_s <= horizon_s:
            self._closed_keys -= len(closed.pop(0).entries)
        closing = self._closing
        while closing and closing[0].newest_s <= horizon_s:   # a sweep far behind
            self._closed_keys -= len(closing.pop(0).keys)

    def _close_current(self) -> None:
        """No copy: the dict is set aside, for `step` to sort."""
        if not self._current:
            return
        self._closing.append(_Closing(self._current_minute, self._current_newest_s,
                                      self._current, self._range_items))
        self._closed_keys += len(self._current)
        self._current = {}

    def _shed(self) -> None:
        """Over keys_max: the oldest buckets go (the current minute's too, closed early, when
        it alone is over), and the held window shrinks to what is left."""
        while len(self) > self.keys_max:
            if not self._closed and not self._closing:
                self._close_current()
            if self._closing and (not self._closed
                                  or self._closing[0].newest_s < self._closed[0].newest_s):
                newest_s = self._closing[0].newest_s
                self._closed_keys -= len(self._closing.pop(0).keys)
            else:
                oldest = self._closed.pop(0)
                newest_s = oldest.newest_s
                self._closed_keys -= len(oldest.entries)
            self.held_from_s = max(self.held_from_s, newest_s + 1)
