"""Reversals whose original the host never saw (host interface §4, Reversal): the original's
key (MTI + 41 + 11 + 7, from field 90) is remembered, so that the original is declined with 05
if it arrives later. Kept for the retransmission window, like every other key: after it, a
field 7 (which has no year) may recur. Rows in reversal_tombstones make them survive restarts.
"""

from __future__ import annotations

# How often the memory is swept for expired tombstones; they are few (a reversal of an unseen
# original is rare), so a sweep of the whole map is cheap.
_SWEEP_INTERVAL_S = 3_600


class Tombstones:
    def __init__(self, window_s: int) -> None:
        assert window_s > 0
        self.window_s = window_s
        self._created_s: dict[str, int] = {}   # original's key -> when its reversal came
        self._swept_s = 0

    def __len__(self) -> int:
        return len(self._created_s)

    def __contains__(self, key: str) -> bool:
        return key in self._created_s

    def is_buried(self, key: str, now_s: int) -> bool:
        """Whether a reversal of `key` came, within the window, before `key` itself."""
        created_s = self._created_s.get(key)
        return created_s is not None and created_s > now_s - self.window_s

    def add(self, key: str, created_s: int) -> None:
        self._created_s[key] = created_s

    def evict(self, now_s: int) -> None:
        if now_s - self._swept_s < _SWEEP_INTERVAL_S:
            return
        self._swept_s = now_s
        horizon_s = now_s - self.window_s
        self._created_s = {key: created_s for key, created_s in self._created_s.items()
                           if created_s > horizon_s}
