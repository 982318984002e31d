"""The sender: delivers the outbox's events at least once, in id order (so each card's in
order), and records each as delivered or skipped (its member opted out of the kind).

An attempt that fails is retried after a backoff that doubles up to `backoff_s_max`, for as
long as it takes: an event is never given up, so a gateway down for an hour loses nothing, and
the alert on the oldest pending event's age says the backlog grows. An event delivered and not
yet recorded (a crash in between) is sent again: the receiver de-duplicates by its id.

Time is a seam (`Clock`): tests run an hour of backoff on an injected clock.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio
import asyncpg
import structlog

from database.connect import connect
from database.errors import DatabaseUnavailableError
from notifications import metrics, outbox
from notifications.config import NotifyConfig
from notifications.errors import DeliveryFailed
from notifications.events import Pending
from notifications.webhook import Transport

log = structlog.get_logger("notifications.sender")

# How long the sender waits before it connects again after losing the database.
RECONNECT_S = 2.0
# How long a connection may take.
CONNECT_TIMEOUT_S = 10.0


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def backoff_s(config: NotifyConfig, failures: int) -> float:
    """The wait after the `failures`-th failed attempt in a row of one event."""
    assert failures >= 1
    return min(config.backoff_s_max, config.backoff_s_min * 2 ** min(failures - 1, 32))


class Sender:
    def __init__(self, config: NotifyConfig, transport: Transport,
                 clock: Clock | None = None) -> None:
        self._config = config
        self._transport = transport
        self._clock = clock or RealClock()
        self.floor = 0   # every event with an id up to it is done (outbox.py)
        self.delivered = 0
        self.skipped = 0
        self.failed_attempts = 0

    async def run_once(self, conn: asyncpg.Connection) -> int:
        """One read of the outbox, every event of it done; how many there were."""
        config = self._config
        batch = await outbox.read_pending(conn, self.floor, config.batch_size_max)
        for pending in batch:
            await self._done(conn, pending)
        self.floor = await outbox.next_floor(conn, self.floor, config.settle_s)
        count, oldest_s = await outbox.backlog(conn, self.floor)
        metrics.PENDING.set(count)
        metrics.OLDEST_PENDING_AGE.set(oldest_s)
        return len(batch)

    async def _done(self, conn: asyncpg.Connection, pending: Pending) -> None:
        event = pending.event
        if pending.opted_out:
            with anyio.CancelScope(shield=True):
                await outbox.record(conn, event.id, "skipped", 0)
            self.skipped += 1
            metrics.SKIPPED.inc()
            return
        attempts = await self._deliver(pending)
        with anyio.CancelScope(shield=True):   # a drain waits for the record, not the attempt
            await outbox.record(conn, event.id, "delivered", attempts)
        self.delivered += 1
        metrics.DELIVERED.inc()

    async def _deliver(self, pending: Pending) -> int:
        """Until the receiver takes it; the attempts it took."""
        event = pending.event
        failures = 0
        while True:
            try:
                await self._transport.send(event)
                return failures + 1
            except (DeliveryFailed, TimeoutError) as exc:
                failures += 1
                self.failed_attempts += 1
                metrics.FAILED.inc()
                wait_s = backoff_s(self._config, failures)
                log.warning("notification_attempt_failed", event_id=event.id,
                            kind=event.kind, attempt=failures, retry_in_s=wait_s,
                            reason=str(exc) or "timeout")
                await self._clock.sleep(wait_s)

    async def run(self, url: str, *, connected: list[bool] | None = None) -> None:
        """Forever: read, deliver, record; an empty outbox is read again every poll interval,
        and a lost database connection is opened again."""
        while True:
            try:
                conn = await connect(url, CONNECT_TIMEOUT_S)
            except DatabaseUnavailableError as exc:
                log.warning("notify_database_unavailable", error=str(exc))
                await self._clock.sleep(RECONNECT_S)
                continue
            if connected is not None:
                connected[0] = True
            try:
                while True:
                    if not await self.run_once(conn):
                        await self._clock.sleep(self._config.poll_interval_s)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("notify_database_lost", error=str(exc))
            finally:
                if connected is not None:
                    connected[0] = False
                with anyio.CancelScope(shield=True):
                    await conn.close(timeout=CONNECT_TIMEOUT_S)
            await self._clock.sleep(RECONNECT_S)
