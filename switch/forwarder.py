"""Forwarding both ways: front requests out to hosts by card range, host answers back to fronts.

Each request gets a switch-side correlation id, unique across all host links, and a pending
entry (owning front peer, the front's id, deadline) in its host's map. The maps are bounded, and
entries leave them on the answer, when the host link goes down (answered 91 at once), when the
front link goes away, or after host_answer_timeout_s (no answer: the front has answered 91 by
its own timeout). Deadlines grow with insertion order, so each map is swept from its head.

Each entry keeps its request's id (`Request.request_id`, the front's), so that every line about
a request names it: one line per request forwarded or answered, at debug (the bulk of the
traffic: nothing is formatted unless debug is on), and the ids (up to REQUEST_IDS_LOGGED_MAX)
in the lines about many (a host lost with requests on it, requests past their deadline).

With more than one host, a 0500 has a part in every partition: it is sent to every host, each
part with `reconciliation_parts` set and a pending entry of its own in its host's map, and the
terminal gets the parts' merge (fan_out.py, reconciliation.py). It is sent only when every host
can take it (link up, room under pending_requests_max), so that a 91 known in advance closes no
part; a part lost afterwards (link down, send failed, deadline) answers 91 at once, the deadline
included: the switch, not the front's timeout, answers a fan-out. With one host a 0500 takes
the path of every other frame.

With more than one host, a frame with a card goes to the host its retransmission key went to
within key_window_s (key_memory.py), whatever its PAN: the host that holds the key answers the
first answer again, or 94 for other content (field 2 included). A key seen first routes by PAN
and is remembered when its host's link is up (a frame refused 91 before it left decided
nothing: its retry may go by its own PAN). With one host none of this runs.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping
from typing import Protocol

import anyio
import msgspec
import structlog

from proto.codes import Mti, ResponseCode
from proto.frames import REQUEST_IDS_LOGGED_MAX, Answer, Request
from proto.links import LinkPeer
from proto.pan import mask_pan
from proto.retransmission import key_digest, retransmission_key
from switch import metrics
from switch.config import SwitchConfig
from switch.fan_out import FanOut
from switch.key_memory import KeyMemory
from switch.metrics import Outcome
from switch.reconciliation import Merged, MergeOutcome
from switch.routes import RouteBook

log = structlog.get_logger("switch.forwarder")

# Expired entries are swept at least this often: how long a dead entry may hold a pending slot.
SWEEP_INTERVAL_S_MAX = 1.0

_UNAVAILABLE = ResponseCode.HOST_UNAVAILABLE.value


class HostLink(Protocol):
    """What the forwarder needs of a host link (proto.links.LinkClient)."""

    is_up: bool

    def send(self, requests: list[Request]) -> bool: ...


class _Pending(msgspec.Struct):
    peer: LinkPeer
    front_id: int
    deadline: float
    request_id: str
    fan_out: FanOut | None = None   # a reconciliation's part: the front is answered the merge


class Forwarder:
    def __init__(
        self, config: SwitchConfig, routes: RouteBook, links: Mapping[str, HostLink]
    ) -> None:
        """`links` may be filled after this (its links take this forwarder's callbacks), but
        must hold one link per configured host before the first request."""
        self._routes = routes
        self._links = links
        self._pending: dict[str, dict[int, _Pending]] = {host: {} for host in config.hosts}
        self._pending_max = config.pending_requests_max
        self._timeout_s = config.host_answer_timeout_s
        self._switch_ids = itertools.count(1)
        # Several partitions: a terminal's batch has a part in each, so a 0500 goes to all.
        self._fan_out_hosts = tuple(config.hosts) if len(config.hosts) > 1 else ()
        # Several partitions: which host each key went to (index: position in config.hosts).
        self.hosts_by_index = tuple(config.hosts)
        self.host_indexes = {host: index for index, host in enumerate(self.hosts_by_index)}
        self.keys: KeyMemory | None = None
        if len(config.hosts) > 1:
            self.keys = KeyMemory(len(config.hosts), config.key_window_s, config.keys_max,
                                  int(time.time()))

    def pending_count(self, host: str) -> int:
        return len(self._pending[host])

    # Front -> host.

    async def on_front_requests(self, peer: LinkPeer, requests: list[Request]) -> None:
        """serve_links' handler: route a batch, forward each host's share as one list, and
        answer 91 at once for what cannot be forwarded."""
        table = self._routes.table
        by_host: dict[str, list[Request]] = {}
        refused: list[Answer] = []
        keys = self.keys
        now_s = int(time.time()) if keys is not None else 0
        for request in requests:
            if self._fan_out_hosts and request.mti == Mti.RECONCILIATION:
                self._fan_out(peer, request, refused)
                continue
            host = table.host_for(request.pan)
            if keys is not None and request.pan:
                host = self._host_by_key(keys, request, host, now_s)
            if host is None:
                # Debug only: the bad range was logged as an error at load, and the metric counts.
                log.debug("card_range_unroutable", request_id=request.request_id,
                          pan=mask_pan(request.pan), request=request.key_text())
                metrics.frames("unconfigured", Outcome.UNROUTABLE_91).inc()
                refused.append(_refusal(request))
            else:
                by_host.setdefault(host, []).append(request)
        for host, group in by_host.items():
            self._forward(peer, host, group, refused)
        if refused:
            await peer.send_answers(refused)

    def _host_by_key(
        self, keys: KeyMemory, request: Request, host: str | None, now_s: int
    ) -> str | None:
        """The host `request`'s key went to, if remembered; else `host` (its PAN's), and the
        key is remembered with it when its link is up."""
        digest = key_digest(retransmission_key(
            request.terminal_code, request.mti, request.stan, request.transmission_time))
        index = keys.lookup(digest, now_s)
        if index is None:
            if host is not None and self._links[host].is_up:
                keys.remember(digest, self.host_indexes[host], now_s)
            return host
        remembered = self.hosts_by_index[index]
        if remembered != host:
            metrics.KEY_ROUTED.inc()
            log.info("routed_by_key", request_id=request.request_id, host=remembered,
                     pan_host=host, pan=mask_pan(request.pan))
        return remembered

    def _forward(
        self, peer: LinkPeer, host: str, requests: list[Request], refused: list[Answer]
    ) -> None:
        link = self._links[host]
        if not link.is_up:
            self._refuse(host, requests, Outcome.UNAVAILABLE_91, refused)
            return
        pending = self._pending[host]
        room = self._pending_max - len(pending)
        if room < len(requests):
            overflow = requests[max(room, 0):]
            log.warning("host_pending_full", host=host, refused=len(overflow), request_ids=[
                request.request_id for request in overflow[:REQUEST_IDS_LOGGED_MAX]])
            self._refuse(host, overflow, Outcome.OVERFLOW_91, refused)
            requests = requests[:max(room, 0)]
            if not requests:
                return
        deadline = anyio.current_time() + self._timeout_s
        outgoing: list[Request] = []
        for request in requests:
            switch_id = next(self._switch_ids)
            pending[switch_id] = _Pending(peer, request.correlation_id, deadline,
                                          request.request_id)
            outgoing.append(msgspec.structs.replace(request, correlation_id=switch_id))
        if not link.send(outgoing):
            for request in outgoing:
                del pending[request.correlation_id]
            self._refuse(host, requests, Outcome.UNAVAILABLE_91, refused)
            return
        metrics.frames(host, Outcome.FORWARDED).inc(len(outgoing))
        if log.is_enabled_for(logging.DEBUG):
            for request in requests:
                log.debug("forwarded", request_id=request.request_id, host=host,
                          request=request.key_text(), pan=mask_pan(request.pan))

    def _fan_out(self, peer: LinkPeer, request: Request, refused: list[Answer]) -> None:
        """Send a 0500 to every host, each part with a pending entry of its own; or refuse it
        91 before any part is sent when one host cannot take it."""
        hosts = self._fan_out_hosts
        for host in hosts:
            if not self._links[host].is_up:
                self._refuse_fan_out(host, request, Outcome.UNAVAILABLE_91, refused)
                return
            if len(self._pending[host]) >= self._pending_max:
                log.warning("host_pending_full", host=host, refused=1,
                            request_ids=[request.request_id])
                self._refuse_fan_out(host, request, Outcome.OVERFLOW_91, refused)
                return
        fan_out = FanOut(peer, request.correlation_id, request.request_id, request.totals, hosts)
        deadline = anyio.current_time() + self._timeout_s
        for host in hosts:
            switch_id = next(self._switch_ids)
            pending = self._pending[host]
            pending[switch_id] = _Pending(peer, request.correlation_id, deadline,
                                          request.request_id, fan_out)
            part = msgspec.structs.replace(request, correlation_id=switch_id,
                                           reconciliation_parts=len(hosts))
            if not self._links[host].send([part]):
                # Parts already sent close their share; the retry of the key finds them closed.
                del pending[switch_id]
                metrics.frames(host, Outcome.UNAVAILABLE_91).inc()
                merged = fan_out.record(host, None)
                assert merged is not None, "a missing part decides the fan-out"
                refused.append(self._merged(fan_out, merged))
                return
            metrics.frames(host, Outcome.FORWARDED).inc()
            if log.is_enabled_for(logging.DEBUG):
                log.debug("forwarded", request_id=request.request_id, host=host,
                          request=request.key_text(), parts=len(hosts))

    @staticmethod
    def _refuse_fan_out(
        host: str, request: Request, outcome: Outcome, refused: list[Answer]
    ) -> None:
        Forwarder._refuse(host, [request], outcome, refused)
        metrics.reconciliations(MergeOutcome.PART_MISSING_91).inc()

    @staticmethod
    def _merged(fan_out: FanOut, merged: Merged) -> Answer:
        """The front's answer to a decided fan-out, counted and logged."""
        metrics.reconciliations(merged.outcome).inc()
        log.info("reconciliation_merged", request_id=fan_out.request_id,
                  response_code=merged.response_code, outcome=merged.outcome,
                  parts={host: None if part is None else part.response_code
                         for host, part in fan_out.parts.items()})
        return fan_out.answer(merged)

    def _part_answered(
        self, host: str, entry: _Pending, part: Answer | None,
        by_peer: dict[LinkPeer, list[Answer]],
    ) -> bool:
        """Record a part's answer (None: lost); queue the front's answer when this decides
        the fan-out. False when the fan-out was answered before this part came."""
        fan_out = entry.fan_out
        assert fan_out is not None
        if fan_out.answered:
            fan_out.record(host, part)
            return False
        merged = fan_out.record(host, part)
        if merged is not None:
            by_peer.setdefault(entry.peer, []).append(self._merged(fan_out, merged))
        return True

    @staticmethod
    def _refuse(
        host: str, requests: list[Request], outcome: Outcome, refused: list[Answer]
    ) -> None:
        refused.extend(_refusal(request) for request in requests)
        metrics.frames(host, outcome).inc(len(requests))
        if log.is_enabled_for(logging.DEBUG):
            for request in requests:
                log.debug("refused", request_id=request.request_id, host=host,
                          outcome=outcome, request=request.key_text())

    # Host -> front.

    def on_host_answers(self, host: str, answers: list[Answer]) -> None:
        """LinkClient's on_answers: map ids back and send each front peer its answers."""
        pending = self._pending[host]
        by_peer: dict[LinkPeer, list[Answer]] = {}
        late: list[Answer] = []
        for answer in answers:
            entry = pending.pop(answer.correlation_id, None)
            if entry is None:
                late.append(answer)
                continue
            if entry.fan_out is not None:
                if not self._part_answered(host, entry, answer, by_peer):
                    late.append(answer)
                continue
            # The id is the request's as the switch saw it, whatever the host put there.
            by_peer.setdefault(entry.peer, []).append(msgspec.structs.replace(
                answer, correlation_id=entry.front_id, request_id=entry.request_id))
        if late:
            log.info("late_answers_dropped", host=host, answers=len(late), request_ids=[
                answer.request_id for answer in late[:REQUEST_IDS_LOGGED_MAX]])
            metrics.frames(host, Outcome.LATE_ANSWER_DROPPED).inc(len(late))
        if log.is_enabled_for(logging.DEBUG):
            for peer_answers in by_peer.values():
                for answer in peer_answers:
                    log.debug("answer_returned", request_id=answer.request_id, host=host,
                              response_code=answer.response_code)
        self._deliver(host, by_peer)

    def on_host_down(self, host: str) -> None:
        """LinkClient's on_down: what the host had not answered will never be; answer 91 now."""
        pending = self._pending[host]
        if not pending:
            return
        self._pending[host] = {}
        by_peer: dict[LinkPeer, list[Answer]] = {}
        for entry in pending.values():
            if entry.fan_out is not None:
                self._part_answered(host, entry, None, by_peer)
                continue
            by_peer.setdefault(entry.peer, []).append(
                Answer(entry.front_id, _UNAVAILABLE, request_id=entry.request_id))
        log.warning("host_down_pending_answered", host=host, requests=len(pending), request_ids=[
            entry.request_id for entry in list(pending.values())[:REQUEST_IDS_LOGGED_MAX]])
        metrics.frames(host, Outcome.HOST_DOWN_91).inc(len(pending))
        self._deliver(host, by_peer)

    @staticmethod
    def _deliver(host: str, by_peer: dict[LinkPeer, list[Answer]]) -> None:
        for peer, answers in by_peer.items():
            if not peer.send_answers_nowait(answers):
                # The front link is gone or its outbox is full: the front answers 91 by timeout.
                log.warning("front_answers_dropped", link=peer.name, answers=len(answers),
                            request_ids=[answer.request_id
                                         for answer in answers[:REQUEST_IDS_LOGGED_MAX]])
                metrics.frames(host, Outcome.FRONT_GONE_DROPPED).inc(len(answers))

    # Housekeeping.

    def on_front_gone(self, peer: LinkPeer) -> None:
        """serve_links' on_peer_gone: free the slots of a front that will not read answers."""
        for host, pending in self._pending.items():
            owned = [switch_id for switch_id, entry in pending.items() if entry.peer is peer]
            if owned:
                log.info("front_gone_pending_dropped", host=host, link=peer.name,
                         requests=len(owned), request_ids=[
                             pending[switch_id].request_id
                             for switch_id in owned[:REQUEST_IDS_LOGGED_MAX]])
            for switch_id in owned:
                del pending[switch_id]

    def sweep(self, now: float) -> int:
        """Drop entries past their deadline; returns how many. A reconciliation's part past it
        answers its fan-out 91 (the others are not waited for any longer). With several hosts,
        the key memory's share too: a closed minute sorted in slices, off the frames' path."""
        if self.keys is not None:
            self.keys.step(int(time.time()))
        dropped = 0
        for host, pending in self._pending.items():
            by_peer: dict[LinkPeer, list[Answer]] = {}
            expired: list[int] = []
            for switch_id, entry in pending.items():
                if entry.deadline > now:
                    break   # entries are in deadline order
                expired.append(switch_id)
            if not expired:
                continue
            log.info("pending_expired", host=host, requests=len(expired), request_ids=[
                pending[switch_id].request_id for switch_id in expired[:REQUEST_IDS_LOGGED_MAX]])
            for switch_id in expired:
                entry = pending.pop(switch_id)
                if entry.fan_out is not None:
                    self._part_answered(host, entry, None, by_peer)
            metrics.frames(host, Outcome.EXPIRED).inc(len(expired))
            dropped += len(expired)
            self._deliver(host, by_peer)
        return dropped

    async def sweep_forever(self) -> None:
        interval_s = min(SWEEP_INTERVAL_S_MAX, self._timeout_s / 2)
        while True:
            await anyio.sleep(interval_s)
            self.sweep(anyio.current_time())


def _refusal(request: Request) -> Answer:
    """The switch's own 91 for a request it does not forward."""
    return Answer(request.correlation_id, _UNAVAILABLE, request_id=request.request_id)
