"""One reconciliation sent to every host: its parts' answers as they come, and the moment the
terminal's answer is decided. Sans I/O; the forwarder keeps one pending entry per part in each
host's map (so parts count against pending_requests_max like any frame) and calls `record`.

The answer is decided once: when every part has answered, or as soon as one part is known to be
missing (its host's link went down, its send failed, its 91, its deadline passed), since the
merge is 91 whatever the others say (switch/reconciliation.py). Parts that answer after that
find the fan-out answered and are dropped; they closed their share all the same, and the
terminal's retry of the same key gets their first answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from proto.codes import ResponseCode
from proto.frames import Answer, Totals
from proto.links import LinkPeer
from switch.reconciliation import Merged, merge_parts

_UNAVAILABLE = ResponseCode.HOST_UNAVAILABLE.value


class FanOut:
    """A reconciliation waiting for its parts, one per host."""

    __slots__ = ("answered", "claimed", "front_id", "hosts", "parts", "peer", "request_id")

    def __init__(self, peer: LinkPeer, front_id: int, request_id: str, claimed: Totals | None,
                 hosts: Sequence[str]) -> None:
        assert len(hosts) > 1, "one host answers a reconciliation whole"
        self.peer = peer
        self.front_id = front_id
        self.request_id = request_id
        self.claimed = claimed       # fields 74-77 and 86-89 as the terminal sent them
        self.hosts = tuple(hosts)
        self.parts: dict[str, Answer | None] = {}
        self.answered = False

    def record(self, host: str, part: Answer | None) -> Merged | None:
        """`host`'s part (None: it will never come). The terminal's answer when this decides
        it; None while parts are awaited, and for every part after the decision."""
        assert host in self.hosts and host not in self.parts, "one answer per part"
        self.parts[host] = part
        if self.answered:
            return None
        missing = part is None or part.response_code == _UNAVAILABLE
        if not missing and len(self.parts) < len(self.hosts):
            return None
        self.answered = True
        return merge_parts(self.claimed, [self.parts.get(name) for name in self.hosts])

    def answer(self, merged: Merged) -> Answer:
        """The terminal's answer, with the front's id and the request's."""
        return Answer(self.front_id, merged.response_code, totals=merged.totals,
                      request_id=self.request_id)
