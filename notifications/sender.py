"""One partition's sender: delivers its outbox's events at least once, in id order (so each
card's in order: a card's events are all in its partition's outbox), and records each, in that
partition's database, as delivered or skipped (its member opted out of the kind, as read on
central: opt_outs.py). `service.py` runs one per partition, side by side.

An attempt that fails is retried after a backoff that doubles up to `backoff_s_max`, for as
long as it takes: an event is never given up, so a gateway down for an hour loses nothing, and
the alert on the oldest pending event's age says the backlog grows. An event delivered and not
yet recorded (a crash in between) is sent again: the receiver de-duplicates by its id. A
partition whose database (or central's, for the opt-outs) cannot be reached is tried again
with the same backoff; the other partitions' senders do not wait for it.

Time is a seam (`Clock`): tests run an hour of backoff on an injected clock.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio
import asyncpg
import structlog

from database.connect import connect, redact_url
from database.errors import DatabaseUnavailableError
from notifications import metrics, outbox
from notifications.config import NotifyConfig
from notifications.errors import DeliveryFailed
from notifications.events import Pending
from notifications.opt_outs import with_opt_outs
from notifications.webhook import Transport

log = structlog.get_logger("notifications.sender")

# How long a connection may take.
CONNECT_TIMEOUT_S = 10.0
# The name of central's partition when the partitions table names none (a database migrated
# before 029): the metrics' label.
CENTRAL_NAME_DEFAULT = "main"
_DATABASE_ERRORS = (DatabaseUnavailableError, asyncpg.PostgresError, asyncpg.InterfaceError,
                    OSError, TimeoutError)


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def backoff_s(config: NotifyConfig, failures: int) -> float:
    """The wait after the `failures`-th failed attempt in a row (of one event, or of one
    partition's connection)."""
    assert failures >= 1
    return min(config.backoff_s_max, config.backoff_s_min * 2 ** min(failures - 1, 32))


class Sender:
    """The sender of partition `name`'s outbox; `central`: whether that is central's own
    partition, whose events keep their plain outbox id as their identity (events.py)."""

    def __init__(self, config: NotifyConfig, transport: Transport, clock: Clock | None = None,
                 *, name: str = CENTRAL_NAME_DEFAULT, central: bool = True) -> None:
        self._config = config
        self._transport = transport
        self._clock = clock or RealClock()
        self.name = name
        self._key_prefix = None if central else name
        self.floor = 0   # every event with an id up to it is done (outbox.py)
        self.delivered = 0
        self.skipped = 0
        self.failed_attempts = 0
        # The last good read: when (the clock's time), and the oldest pending age it saw.
        self._read_at_s = self._clock.now()
        self._oldest_s_at_read = 0.0

    async def run_once(self, conn: asyncpg.Connection,
                       central: asyncpg.Connection | None = None) -> int:
        """One read of the outbox (on `conn`; the opt-outs on `central`, by default `conn`),
        every event of it done; how many there were."""
        config = self._config
        batch = await outbox.read_pending(conn, self.floor, config.batch_size_max,
                                          self._key_prefix)
        for pending in await with_opt_outs(central or conn, batch):
            await self._done(conn, pending)
        self.floor = await outbox.next_floor(conn, self.floor, config.settle_s)
        count, oldest_s = await outbox.backlog(conn, self.floor)
        self._read_at_s, self._oldest_s_at_read = self._clock.now(), oldest_s
        metrics.PENDING.labels(self.name).set(count)
        metrics.OLDEST_PENDING_AGE.labels(self.name).set(oldest_s)
        metrics.PARTITION_UP.labels(self.name).set(1)
        return len(batch)

    def unreachable(self) -> None:
        """The partition cannot be read: its backlog is unknown, so its oldest event is taken
        to be as old as the oldest seen at the last good read, plus the time since."""
        age_s = self._oldest_s_at_read + (self._clock.now() - self._read_at_s)
        metrics.OLDEST_PENDING_AGE.labels(self.name).set(age_s)
        metrics.PARTITION_UP.labels(self.name).set(0)

    async def _done(self, conn: asyncpg.Connection, pending: Pending) -> None:
        if pending.opted_out:
            with anyio.CancelScope(shield=True):
                await outbox.record(conn, pending.outbox_id, "skipped", 0)
            self.skipped += 1
            metrics.SKIPPED.labels(self.name).inc()
            return
        attempts = await self._deliver(pending)
        with anyio.CancelScope(shield=True):   # a drain waits for the record, not the attempt
            await outbox.record(conn, pending.outbox_id, "delivered", attempts)
        self.delivered += 1
        metrics.DELIVERED.labels(self.name).inc()

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
                metrics.FAILED.labels(self.name).inc()
                wait_s = backoff_s(self._config, failures)
                log.warning("notification_attempt_failed", event_id=event.id,
                            partition=self.name, kind=event.kind, attempt=failures,
                            retry_in_s=wait_s, reason=str(exc) or "timeout")
                await self._clock.sleep(wait_s)

    async def run(self, url: str, central_url: str | None = None, *,
                  connected: list[bool] | None = None) -> None:
        """Forever: read, deliver, record; an empty outbox is read again every poll interval,
        and a database lost (this partition's, or central's when `central_url` is another)
        is connected to again after the backoff."""
        failures = 0
        while True:
            try:
                await self._serve(url, central_url, connected)
            except _DATABASE_ERRORS as exc:
                failures += 1
                wait_s = backoff_s(self._config, failures)
                self.unreachable()
                log.warning("notify_partition_unreachable", partition=self.name,
                            error=str(exc) or type(exc).__name__, retry_in_s=wait_s)
            else:   # a good read ended by a lost connection: the backoff starts again
                failures = 0
                wait_s = self._config.backoff_s_min
            await self._clock.sleep(wait_s)

    async def _serve(self, url: str, central_url: str | None,
                     connected: list[bool] | None) -> None:
        """Read and deliver on one connection (and central's) until a database error; returns
        (rather than raises) when the loss came after at least one good read."""
        conn = await connect(url, CONNECT_TIMEOUT_S)
        central: asyncpg.Connection | None = None
        read_once = False
        try:
            if central_url is not None:
                central = await connect(central_url, CONNECT_TIMEOUT_S)
            if connected is not None:
                connected[0] = True
            while True:
                count = await self.run_once(conn, central)
                read_once = True
                if not count:
                    await self._clock.sleep(self._config.poll_interval_s)
        except _DATABASE_ERRORS as exc:
            if not read_once:
                raise
            self.unreachable()
            log.warning("notify_database_lost", partition=self.name, url=redact_url(url),
                        error=str(exc) or type(exc).__name__)
        finally:
            if connected is not None:
                connected[0] = False
            with anyio.CancelScope(shield=True):
                for connection in (conn, central):
                    if connection is not None:
                        await connection.close(timeout=CONNECT_TIMEOUT_S)
