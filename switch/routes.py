"""Card-range routing: which account host owns a PAN.

A PAN belongs to a range when its first len(bin_low) digits lie in [bin_low, bin_high]. Ranges
may overlap; the narrowest wins: the longest prefix, then the smallest span, then the oldest
row. The ranges are flattened at load into disjoint segments per prefix length, each naming its
winner, so a lookup is one slice and one bisect per prefix length present, with no database
access and no per-request allocation beyond the slice.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Collection, Sequence
from itertools import pairwise

import anyio
import asyncpg
import msgspec
import structlog

from switch.errors import RouteLoadError

log = structlog.get_logger("switch.routes")

# Rows read from card_ranges: a coalition has a few hundred BIN ranges; far more is a data error
# that would also make every reload slow.
CARD_RANGES_MAX = 100_000


class CardRange(msgspec.Struct, frozen=True):
    bin_low: str
    bin_high: str
    host_name: str


class _Level(msgspec.Struct):
    """Disjoint segments [starts[i], ends[i]] of one prefix length; host None is unroutable."""

    prefix_length: int
    starts: list[int]
    ends: list[int]
    hosts: list[str | None]


class RouteTable:
    """An immutable routing table; `host_for` is the hot-path lookup."""

    def __init__(
        self, ranges: Sequence[CardRange], *, default_host: str, known_hosts: Collection[str]
    ) -> None:
        assert default_host in known_hosts, "the default host must be a configured host"
        self.default_host = default_host
        self.ranges = tuple(ranges)
        by_length: dict[int, list[tuple[int, int, int, str | None]]] = {}
        for order, card_range in enumerate(self.ranges):
            assert len(card_range.bin_low) == len(card_range.bin_high)
            host: str | None = card_range.host_name
            if host not in known_hosts:
                log.error("card_range_host_unknown", host=host, bin_low=card_range.bin_low,
                          bin_high=card_range.bin_high)
                host = None
            by_length.setdefault(len(card_range.bin_low), []).append(
                (int(card_range.bin_low), int(card_range.bin_high), order, host))
        # Longest prefix first: the first level that matches holds the narrowest range.
        self._levels = [_flatten(length, by_length[length])
                        for length in sorted(by_length, reverse=True)]

    def host_for(self, pan: str | None) -> str | None:
        """The host that owns `pan`; the default host when there is no PAN or no range; None
        when the owning range names a host that is not configured (the caller answers 91)."""
        if not pan or not pan.isdigit():
            return self.default_host
        for level in self._levels:
            if len(pan) < level.prefix_length:
                continue
            key = int(pan[:level.prefix_length])
            index = bisect_right(level.starts, key) - 1
            if index >= 0 and key <= level.ends[index]:
                return level.hosts[index]
        return self.default_host


def _flatten(length: int, ranges: list[tuple[int, int, int, str | None]]) -> _Level:
    """Sweep the boundaries of one prefix length, keeping the narrowest active range on top of a
    heap (span, then row order); adjacent segments with the same host are merged."""
    level = _Level(length, [], [], [])
    boundaries = sorted({low for low, _, _, _ in ranges} | {high + 1 for _, high, _, _ in ranges})
    by_low = sorted(ranges)
    active: list[tuple[int, int, int, str | None]] = []   # (span, order, high, host)
    next_range = 0
    for start, stop in pairwise(boundaries):
        while next_range < len(by_low) and by_low[next_range][0] <= start:
            low, high, order, host = by_low[next_range]
            heapq.heappush(active, (high - low, order, high, host))
            next_range += 1
        while active and active[0][2] < start:
            heapq.heappop(active)
        if not active:
            continue
        host = active[0][3]
        if level.ends and level.ends[-1] == start - 1 and level.hosts[-1] == host:
            level.ends[-1] = stop - 1
        else:
            level.starts.append(start)
            level.ends.append(stop - 1)
            level.hosts.append(host)
    return level


class RouteBook:
    """Holds the current table; a reload swaps it whole, so readers need no lock."""

    def __init__(self, *, default_host: str, known_hosts: Collection[str]) -> None:
        self._default_host = default_host
        self._known_hosts = frozenset(known_hosts)
        self.table = RouteTable((), default_host=default_host, known_hosts=self._known_hosts)
        self.version = 0
        self._changed = anyio.Event()

    def update(self, ranges: Sequence[CardRange]) -> bool:
        """Install a table built from `ranges`; False (nothing done) when they are unchanged."""
        if tuple(ranges) == self.table.ranges:
            return False
        self.table = RouteTable(ranges, default_host=self._default_host,
                                known_hosts=self._known_hosts)
        self.version += 1
        self._changed.set()
        self._changed = anyio.Event()
        log.info("card_ranges_installed", ranges=len(ranges), version=self.version)
        return True

    async def wait_version_above(self, version: int) -> None:
        """Return once a table newer than `version` is installed (callers bound the wait)."""
        while self.version <= version:
            await self._changed.wait()


async def load_card_ranges(connection: asyncpg.Connection, timeout_s: float) -> list[CardRange]:
    """All rows of card_ranges, oldest first (the oldest wins a tie)."""
    with anyio.fail_after(timeout_s):
        rows = await connection.fetch(
            "SELECT bin_low, bin_high, host_name FROM card_ranges ORDER BY id LIMIT $1",
            CARD_RANGES_MAX + 1)
    if len(rows) > CARD_RANGES_MAX:
        raise RouteLoadError(f"more than {CARD_RANGES_MAX} card ranges")
    return [CardRange(row["bin_low"], row["bin_high"], row["host_name"]) for row in rows]
