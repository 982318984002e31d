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
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Protocol

import anyio
import msgspec
import structlog

from proto.codes import ResponseCode
from proto.frames import REQUEST_IDS_LOGGED_MAX, Answer, Request
from proto.links import LinkPeer
from proto.pan import mask_pan
from switch import metrics
from switch.config import SwitchConfig
from switch.metrics import Outcome
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

    def pending_count(self, host: str) -> int:
        return len(self._pending[host])

    # Front -> host.

    async def on_front_requests(self, peer: LinkPeer, requests: list[Request]) -> None:
        """serve_links' handler: route a batch, forward each host's share as one list, and
        answer 91 at once for what cannot be forwarded."""
        table = self._routes.table
        by_host: dict[str, list[Request]] = {}
        refused: list[Answer] = []
        for request in requests:
            host = table.host_for(request.pan)
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
        """Drop entries past their deadline; returns how many."""
        dropped = 0
        for host, pending in self._pending.items():
            expired: list[int] = []
            for switch_id, entry in pending.items():
                if entry.deadline > now:
                    break   # entries are in deadline order
                expired.append(switch_id)
            if expired:
                log.info("pending_expired", host=host, requests=len(expired), request_ids=[
                    pending[switch_id].request_id
                    for switch_id in expired[:REQUEST_IDS_LOGGED_MAX]])
            for switch_id in expired:
                del pending[switch_id]
                metrics.frames(host, Outcome.EXPIRED).inc(len(expired))
            dropped += len(expired)
        return dropped

    async def sweep_forever(self) -> None:
        interval_s = min(SWEEP_INTERVAL_S_MAX, self._timeout_s / 2)
        while True:
            await anyio.sleep(interval_s)
            self.sweep(anyio.current_time())


def _refusal(request: Request) -> Answer:
    """The switch's own 91 for a request it does not forward."""
    return Answer(request.correlation_id, _UNAVAILABLE, request_id=request.request_id)
