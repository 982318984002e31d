"""Step 6b: forward a request over the switch link and wait for its answer.

Each request gets a correlation id unique on the link and a waiter in a bounded map of pending
requests. None means the front answers 91 itself: the link refused the request (down or full),
the map is full, the answer did not come in time, or the link went down meanwhile.

When a request left the front and no usable answer came back (none in time, the link lost, or
91 from the switch, which may have lost the host after forwarding), the outcome is unknown
(issue 8): a 0200 is then reversed through the store-and-forward queue before its 91 goes out,
a terminal's own 0420 is stored there and answered 00 once durable, and a 0500 is stored there
to be sent again until its batch closes in every partition. That is the only
extra work, and it is on the failure path: an answered request costs what it did before.

A switch that drains (a restart) says so on the link (`Closing`, `proto.links`) before it
closes it: the link reports down, and a request that finds it so waits for the switch to be
back, within its own deadline, instead of being answered 91 at once; it is sent then. Such a
request had not left the front, so one that times out waiting is a plain 91 with nothing to
reverse. A link lost without that word (a crash) is answered 91 at once, as before.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Protocol

import anyio
import msgspec
import structlog
from anyio.abc import TaskStatus

from acquirer_front import metrics
from acquirer_front.config import FrontConfig
from acquirer_front.saf.entries import (
    Origin,
    SafEntry,
    is_reversible,
    owed_reconciliation,
    reversal_of,
    terminal_advice,
)
from proto.codes import Mti, ResponseCode
from proto.frames import REQUEST_IDS_LOGGED_MAX, Answer, Request
from proto.links import LinkClient
from proto.pan import mask_pan
from proto.tls import ClientTls

log = structlog.get_logger("acquirer_front.upstream")

# Answers that leave the outcome at the host unknown: the switch answers 91 for a host link
# that went down with the request on it, as well as for one it never forwarded.
_OUTCOME_UNKNOWN = ResponseCode.HOST_UNAVAILABLE.value


class SafQueue(Protocol):
    """Where owed 0420s go (acquirer_front.saf.SafStore): True once durable."""

    async def put(self, entry: SafEntry) -> bool: ...


# How often requests past their deadline are given up (answered 91): the precision of the
# answer timeout. One sweeper for all requests instead of a cancel scope each.
_SWEEP_INTERVAL_S = 0.05


class _Waiter:
    """A request on the link: its deadline, its id for the logs, and who hears its answer
    (None: no answer in time, or the link went down). Called exactly once, from the link's
    reader or the sweeper."""

    __slots__ = ("deadline", "on_answer", "request_id")

    def __init__(
        self, deadline: float, on_answer: Callable[[Answer | None], None], request_id: str,
    ) -> None:
        self.deadline = deadline
        self.on_answer = on_answer
        self.request_id = request_id


class _Awaited:
    """The answer of a request an async caller waits for."""

    __slots__ = ("answer", "done")

    def __init__(self) -> None:
        self.answer: Answer | None = None
        self.done = anyio.Event()

    def __call__(self, answer: Answer | None) -> None:
        self.answer = answer
        self.done.set()


class Upstream:
    def __init__(self, config: FrontConfig, saf: SafQueue | None = None) -> None:
        self._pending_max = config.upstream_queue_max
        self._pending: dict[int, _Waiter] = {}
        self._correlation_ids = itertools.count(1)
        self._saf = saf
        self.link = LinkClient(
            config.switch_address,
            name="front->switch",
            on_answers=self._on_answers,
            on_down=self._on_down,
            tls=ClientTls.from_files(config.tls_cert_file, config.tls_key_file,
                                     config.tls_ca_file, config.switch_tls_name),
            message_size_max=config.link_message_size_max,
            connect_timeout_s=config.link_connect_timeout_s,
            echo_interval_s=config.link_echo_interval_s,
            echo_timeout_s=config.link_echo_timeout_s,
            backoff_s_min=config.link_backoff_s_min,
            backoff_s_max=config.link_backoff_s_max,
        )
        link = self.link
        metrics.UPSTREAM_LINK_UP.set_function(lambda: float(link.is_up))

    @property
    def is_up(self) -> bool:
        return self.link.is_up

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(self._sweep_forever)
            await self.link.run(task_status=task_status)

    async def _sweep_forever(self) -> None:
        while True:
            await anyio.sleep(_SWEEP_INTERVAL_S)
            self.sweep(anyio.current_time())

    def sweep(self, now: float) -> None:
        """Wake the requests whose deadline has passed, without an answer. The map is in
        sending order, which is deadline order but for small differences (a request that
        waited on a sign-on write): the scan stops at the first one still in time."""
        expired = []
        for correlation_id, waiter in self._pending.items():
            if waiter.deadline > now:
                break
            expired.append(correlation_id)
        if not expired:
            return
        waiters = [self._pending.pop(correlation_id) for correlation_id in expired]
        log.warning("answers_timed_out", requests=len(waiters),
                    request_ids=[waiter.request_id
                                 for waiter in waiters[:REQUEST_IDS_LOGGED_MAX]])
        for waiter in waiters:
            waiter.on_answer(None)

    async def forward(self, build: Callable[[int], Request], deadline: float) -> Answer | None:
        """Send the request `build(correlation_id)` and wait for its answer until `deadline`
        (anyio clock); None when there is none."""
        awaited = _Awaited()
        request = self.submit(build, deadline, awaited)
        if request is None and self.link.peer_stopping:
            request = await self._submit_when_back(build, deadline, awaited)
        if request is None:
            return await self._not_sent(build)
        await awaited.done.wait()
        if awaited.answer is None and anyio.current_time() >= deadline:
            log.warning("answer_timeout", request_id=request.request_id,
                        request=request.key_text())
        return await self.settle(request, awaited.answer)

    async def _submit_when_back(
        self, build: Callable[[int], Request], deadline: float, awaited: _Awaited,
    ) -> Request | None:
        """The switch is restarting: send the request once its link is up again, if that is
        before `deadline`; None (not sent) otherwise."""
        with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
            await self.link.wait_up()
            return self.submit(build, deadline, awaited)
        return None

    def submit(
        self, build: Callable[[int], Request], deadline: float,
        on_answer: Callable[[Answer | None], None],
    ) -> Request | None:
        """Send the request `build(correlation_id)` without waiting: `on_answer` gets its
        answer, or None at `deadline` or when the link goes down, exactly once (and never
        before this returns). None when it was not sent: the link is down or full."""
        if not self.link.is_up or len(self._pending) >= self._pending_max:
            return None
        correlation_id = next(self._correlation_ids)
        request = build(correlation_id)
        self._pending[correlation_id] = _Waiter(deadline, on_answer, request.request_id)
        if not self.link.send([request]):
            del self._pending[correlation_id]
            return None
        return request

    async def settle(self, request: Request, answer: Answer | None) -> Answer | None:
        """The answer for a request that was sent: the host's, or, when there is no usable one
        (none, or 91), what store-and-forward makes of it."""
        if self.is_usable(answer):
            return answer
        return await self._outcome_unknown(request, answer)

    @staticmethod
    def is_usable(answer: Answer | None) -> bool:
        """An answer that settles the request as it is (no store-and-forward work)."""
        return answer is not None and answer.response_code != _OUTCOME_UNKNOWN

    async def send_batch(self, requests: list[Request], deadline: float) -> list[Answer | None]:
        """Send requests as they are (new correlation ids) in one link batch and wait for their
        answers until `deadline`: the store-and-forward sender's way out, with no policy."""
        if not self.link.is_up or len(self._pending) + len(requests) > self._pending_max:
            return [None] * len(requests)
        waiters: dict[int, _Awaited] = {}
        stamped = []
        for request in requests:
            correlation_id = next(self._correlation_ids)
            waiters[correlation_id] = awaited = _Awaited()
            self._pending[correlation_id] = _Waiter(deadline, awaited, request.request_id)
            stamped.append(msgspec.structs.replace(request, correlation_id=correlation_id))
        try:
            if self.link.send(stamped):
                with anyio.CancelScope(deadline=deadline):
                    for awaited in waiters.values():
                        await awaited.done.wait()
        finally:
            for correlation_id in waiters:
                self._pending.pop(correlation_id, None)
        return [awaited.answer for awaited in waiters.values()]

    async def reverse_undelivered(self, original: Request) -> bool:
        """An approval of `original` the terminal did not get: its reversal is owed. True once
        durable (the caller has nothing else to do either way; a failure is logged)."""
        if self._saf is None or not is_reversible(original):
            return False
        return await self._store(reversal_of(original, Origin.UNDELIVERED))

    async def _not_sent(self, build: Callable[[int], Request]) -> Answer | None:
        """The request never left the front: nothing to reverse, but a terminal's 0420 can
        still be made durable here and delivered later."""
        if self._saf is None:
            return None
        request = build(0)
        if request.mti != Mti.REVERSAL_ADVICE:
            return None
        return await self._store_advice(request, None)

    async def _outcome_unknown(self, request: Request, answer: Answer | None) -> Answer | None:
        """Sent, and no usable answer: the host may have acted on it."""
        if self._saf is None:
            return answer
        if request.mti == Mti.REVERSAL_ADVICE:
            return await self._store_advice(request, answer)
        if is_reversible(request):
            await self._store(reversal_of(request, Origin.NO_ANSWER))
        elif request.mti == Mti.RECONCILIATION:
            # Some partitions may have closed their part: the rest must close without the
            # terminal, which was told 91 and may start its next batch.
            await self._store(owed_reconciliation(request))
        return answer

    async def _store_advice(self, request: Request, answer: Answer | None) -> Answer | None:
        """A terminal's 0420: 00 once the store holds it, else the 91 it would have had."""
        if not await self._store(terminal_advice(request)):
            return answer
        return Answer(request.correlation_id, ResponseCode.APPROVED)

    async def _store(self, entry: SafEntry) -> bool:
        assert self._saf is not None
        stored = await self._saf.put(entry)
        request = entry.request
        if stored:
            log.info("reversal_owed", origin=entry.origin, request_id=request.request_id,
                     request=request.key_text(), original=request.original_data,
                     pan=entry.pan_masked)
        else:
            log.error("reversal_not_stored", origin=entry.origin, request_id=request.request_id,
                      request=request.key_text(), original=request.original_data,
                      pan=mask_pan(request.pan))
        return stored

    def _on_answers(self, answers: list[Answer]) -> None:
        for answer in answers:
            waiter = self._pending.pop(answer.correlation_id, None)
            if waiter is None:
                # Its request timed out (answered 91, and reversed if it could have posted)
                # or its connection closed.
                log.info("late_answer_dropped", request_id=answer.request_id,
                         correlation_id=answer.correlation_id,
                         response_code=answer.response_code)
                continue
            waiter.on_answer(answer)

    def _on_down(self) -> None:
        """The link is gone and so are the answers on it: every waiter gets 91 now."""
        pending, self._pending = self._pending, {}
        if pending:
            log.warning("pending_failed_link_down", count=len(pending), request_ids=[
                waiter.request_id for waiter in list(pending.values())[:REQUEST_IDS_LOGGED_MAX]])
        for waiter in pending.values():
            waiter.on_answer(None)
