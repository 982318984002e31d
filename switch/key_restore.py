"""After the switch starts with several hosts: each host's retransmission key digests, asked
when its link comes up (`KeysWanted`) and staged into the key memory as they come
(`KeyDigests`), sealed when that host says `done`. The switch persists nothing: the hosts'
memories (and their host_requests) are the record (docs/plans/partitions.md §4).

`all_in` is set once every host has answered; the service serves fronts only then, or after
host_startup_wait_s, whichever comes first. A host whose link drops before `done` is asked
again on its next link, ASKS_MAX times in all: a host of the release before does not know
`KeysWanted` and drops the link each time, and is then given up (its keys are held from this
start on, and `held_window_s` says so). A host that answered is not asked again (the switch
remembered what it sent it since).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import anyio
import structlog

from proto.frames import KeyDigests, KeysWanted
from switch.key_memory import KeyMemory

log = structlog.get_logger("switch.key_restore")

# Links a host may drop after being asked, before it is taken for one that cannot answer.
ASKS_MAX = 3


class KeyRestore:
    def __init__(self, memory: KeyMemory, host_indexes: Mapping[str, int],
                 clock: Callable[[], float] = time.time) -> None:
        self._memory = memory
        self._indexes = dict(host_indexes)
        self._clock = clock
        # The window as it was when the switch started: what it could not have seen itself.
        self.since_s = int(clock()) - memory.window_s
        self._waiting = set(host_indexes)
        self._asks: dict[str, int] = {}
        self._given_up = False
        self._staged: dict[str, int] = {}
        self.all_in = anyio.Event()

    def wanted(self, host: str) -> KeysWanted | None:
        """What to ask `host` when its link comes up; None once it has answered."""
        if host not in self._waiting:
            return None
        self._asks[host] = self._asks.get(host, 0) + 1
        if self._asks[host] > ASKS_MAX:
            log.warning("key_digests_given_up", host=host, asks=ASKS_MAX,
                        note="the link dropped after each ask (a host of the release before?)")
            self._given_up = True
            self._done(host, int(self._clock()))
            return None
        self._staged[host] = 0
        log.info("key_digests_asked", host=host, since_s=self.since_s)
        return KeysWanted(self.since_s)

    def on_digests(self, host: str, message: KeyDigests) -> None:
        """A LinkClient's on_key_digests for `host`."""
        if host not in self._waiting:
            return   # a late copy of an answer already sealed
        now_s = int(self._clock())
        self._staged[host] = self._staged.get(host, 0) + self._memory.restore(
            message.digests, self._indexes[host], message.received_at_s, now_s)
        if not message.done:
            return
        self._done(host, now_s)
        log.info("key_digests_in", host=host, digests=self._staged.pop(host, 0),
                 hosts_waited=len(self._waiting), keys=len(self._memory))

    def _done(self, host: str, now_s: int) -> None:
        self._waiting.discard(host)
        everyone = not self._waiting
        complete = everyone and not self._given_up
        self._memory.seal(now_s, held_from_s=self.since_s if complete else None)
        if everyone:
            self.all_in.set()
