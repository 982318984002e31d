"""Step 6b: forward a request over the switch link and wait for its answer.

Each request gets a correlation id unique on the link and a waiter in a bounded map of pending
requests. None means the front answers 91 itself: the link refused the request (down or full),
the map is full, the answer did not come in time, or the link went down meanwhile.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import anyio
import structlog
from anyio.abc import TaskStatus

from acquirer_front import metrics
from acquirer_front.config import FrontConfig
from proto.frames import Answer, Request
from proto.links import LinkClient

log = structlog.get_logger("acquirer_front.upstream")


class _Waiter:
    __slots__ = ("answer", "done")

    def __init__(self) -> None:
        self.answer: Answer | None = None
        self.done = anyio.Event()


class Upstream:
    def __init__(self, config: FrontConfig) -> None:
        self._pending_max = config.upstream_queue_max
        self._pending: dict[int, _Waiter] = {}
        self._correlation_ids = itertools.count(1)
        self.link = LinkClient(
            config.switch_address,
            name="front->switch",
            on_answers=self._on_answers,
            on_down=self._on_down,
            connect_timeout_s=config.link_connect_timeout_s,
            echo_interval_s=config.link_echo_interval_s,
            echo_timeout_s=config.link_echo_timeout_s,
            backoff_min_s=config.link_backoff_min_s,
            backoff_max_s=config.link_backoff_max_s,
        )
        link = self.link
        metrics.UPSTREAM_LINK_UP.set_function(lambda: float(link.is_up))

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        await self.link.run(task_status=task_status)

    async def forward(self, build: Callable[[int], Request], deadline: float) -> Answer | None:
        """Send the request `build(correlation_id)` and wait for its answer until `deadline`
        (anyio clock); None when there is none."""
        if not self.link.is_up or len(self._pending) >= self._pending_max:
            return None
        correlation_id = next(self._correlation_ids)
        request = build(correlation_id)
        waiter = _Waiter()
        self._pending[correlation_id] = waiter
        try:
            if not self.link.send([request]):
                return None
            with anyio.CancelScope(deadline=deadline):
                await waiter.done.wait()
            if waiter.answer is None and not waiter.done.is_set():
                log.warning("answer_timeout", request=request.key_text())
            return waiter.answer
        finally:
            self._pending.pop(correlation_id, None)

    def _on_answers(self, answers: list[Answer]) -> None:
        for answer in answers:
            waiter = self._pending.pop(answer.correlation_id, None)
            if waiter is None:
                # Its request timed out (answered 91) or its connection closed.
                log.info("late_answer_dropped", correlation_id=answer.correlation_id,
                         response_code=answer.response_code)
                continue
            waiter.answer = answer
            waiter.done.set()

    def _on_down(self) -> None:
        """The link is gone and so are the answers on it: every waiter gets 91 now."""
        pending, self._pending = self._pending, {}
        if pending:
            log.warning("pending_failed_link_down", count=len(pending))
        for waiter in pending.values():
            waiter.done.set()
