"""Requests in flight, waiting for their answers by (answer MTI, field 41, field 11)."""

from __future__ import annotations

import contextlib
from collections import deque

import anyio

from devices.errors import DeviceError

AnswerKey = tuple[str, str, str]


class Waiter:
    """One request's slot: set once, with the answer and its raw body, or with an error."""

    __slots__ = ("_event", "answer", "body", "error")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self.answer: dict[str, str] | None = None
        self.body = b""
        self.error: DeviceError | None = None

    def resolve(self, answer: dict[str, str], body: bytes) -> None:
        self.answer, self.body = answer, body
        self._event.set()

    def fail(self, error: DeviceError) -> None:
        self.error = error
        self._event.set()

    async def wait(self) -> dict[str, str]:
        await self._event.wait()
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer


class PendingAnswers:
    """Waiters by answer key. Equal keys (a retransmission sent before the first answer came)
    are answered in the order they were sent. The client's semaphore bounds the size."""

    def __init__(self) -> None:
        self._waiters: dict[AnswerKey, deque[Waiter]] = {}
        self._error: DeviceError | None = None

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._waiters.values())

    def add(self, key: AnswerKey) -> Waiter:
        waiter = Waiter()
        if self._error is not None:
            waiter.fail(self._error)
        else:
            self._waiters.setdefault(key, deque()).append(waiter)
        return waiter

    def discard(self, key: AnswerKey, waiter: Waiter) -> None:
        queue = self._waiters.get(key)
        if queue is None:
            return
        with contextlib.suppress(ValueError):  # already resolved and popped
            queue.remove(waiter)
        if not queue:
            del self._waiters[key]

    def resolve(self, key: AnswerKey, answer: dict[str, str], body: bytes) -> bool:
        """Hand an answer to the oldest waiter of its key; False when nobody waits for it."""
        queue = self._waiters.get(key)
        if not queue:
            return False
        waiter = queue.popleft()
        if not queue:
            del self._waiters[key]
        waiter.resolve(answer, body)
        return True

    def fail_all(self, error: DeviceError) -> None:
        """The connection is gone: every waiter, now and later, gets `error`."""
        self._error = error
        for queue in self._waiters.values():
            for waiter in queue:
                waiter.fail(error)
        self._waiters.clear()
