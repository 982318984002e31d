"""The durable side of store-and-forward: rows of front_saf, committed in batches.

A failure path calls `put` and waits until its row is committed (group commit: one INSERT per
batch, like the host's journal), because a reversal is owed, and a terminal's 0420 answered,
only once the row survives a crash. Only failure paths write here; answered requests never do.

Rows the database did not take (it is down or restarting) are kept in memory, bounded, and
inserted again with backoff: the caller has been told False and answered accordingly, but the
reversal is still owed, and the host may have posted the original before the database went.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import asyncpg
import structlog

from acquirer_front import metrics
from acquirer_front.errors import DATABASE_ERRORS
from acquirer_front.saf.entries import SafEntry, seal_request

log = structlog.get_logger("acquirer_front.saf.store")


# A pending row of the same original already holds the debt: the later one adds nothing.
_INSERT = """
INSERT INTO front_saf (origin, terminal_code, stan, original_data, reason_code,
                       processing_code, amount, currency, pan_masked, request)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::bigint[], $8::text[], $9::text[], $10::bytea[])
ON CONFLICT (terminal_code, original_data) WHERE state = 'pending' DO NOTHING
"""


class _Put:
    __slots__ = ("done", "entry", "stored")

    def __init__(self, entry: SafEntry) -> None:
        self.entry = entry
        self.stored = False
        self.done = anyio.Event()


class SafStore:
    def __init__(
        self, pool: asyncpg.Pool, *, seal_key: bytes, batch_max: int, queue_max: int,
        timeout_s: float,
        on_stored: Callable[[], None] = lambda: None,
        backoff_s_min: float = 1.0, backoff_s_max: float = 60.0,
    ) -> None:
        assert batch_max > 0 and queue_max > 0
        self._pool = pool
        self._seal_key = seal_key
        self._batch_max = batch_max
        self._timeout_s = timeout_s
        self._on_stored = on_stored
        self._queue_max = queue_max
        self._puts_in, self._puts_out = anyio.create_memory_object_stream[_Put](queue_max)
        self._unstored: list[SafEntry] = []
        self._backoff_s = (backoff_s_min, backoff_s_max)

    async def put(self, entry: SafEntry) -> bool:
        """True once the row is committed; False when that did not happen within the
        timeout (it may still commit later: a pending row is harmless, a lost one is not)."""
        put = _Put(entry)
        with anyio.move_on_after(self._timeout_s):
            await self._puts_in.send(put)
            await put.done.wait()
        if not put.stored:
            metrics.SAF_NOT_STORED.inc()
        return put.stored

    @property
    def unstored_count(self) -> int:
        return len(self._unstored)

    async def run(self) -> None:
        """Commit queued rows, a batch at a time, and retry the ones the database refused,
        until cancelled."""
        async with anyio.create_task_group() as group:
            group.start_soon(self._retry_unstored)
            await self._commit_puts()
            group.cancel_scope.cancel()

    async def _commit_puts(self) -> None:
        async for first in self._puts_out:
            batch = [first]
            while len(batch) < self._batch_max:
                try:
                    batch.append(self._puts_out.receive_nowait())
                except anyio.WouldBlock:
                    break
            stored = await self._insert([put.entry for put in batch])
            for put in batch:
                put.stored = stored
                put.done.set()
            if stored:
                self._stored([put.entry for put in batch])
            else:
                self._keep([put.entry for put in batch])

    def _stored(self, entries: list[SafEntry]) -> None:
        for entry in entries:
            metrics.SAF_QUEUED.labels(entry.origin).inc()
        self._on_stored()

    def _keep(self, entries: list[SafEntry]) -> None:
        """Hold refused rows for a later insert; past queue_max the oldest are given up."""
        self._unstored.extend(entries)
        excess = len(self._unstored) - self._queue_max
        if excess > 0:
            for entry in self._unstored[:excess]:
                log.error("reversal_given_up", request_id=entry.request.request_id,
                          request=entry.request.key_text(),
                          original=entry.request.original_data, pan=entry.pan_masked)
            del self._unstored[:excess]

    async def _retry_unstored(self) -> None:
        backoff_s_min, backoff_s_max = self._backoff_s
        delay_s = backoff_s_min
        while True:
            await anyio.sleep(delay_s)
            if not self._unstored:
                delay_s = backoff_s_min
                continue
            entries = self._unstored[:self._batch_max]
            if await self._insert(entries):
                del self._unstored[:len(entries)]
                log.info("reversals_stored_late", rows=len(entries))
                self._stored(entries)
                delay_s = backoff_s_min
            else:
                delay_s = min(delay_s * 2, backoff_s_max)

    async def _insert(self, entries: list[SafEntry]) -> bool:
        requests = [entry.request for entry in entries]
        columns = (
            [entry.origin.value for entry in entries],
            [request.terminal_code for request in requests],
            [request.stan for request in requests],
            [entry.original_data for entry in entries],
            [request.reason_code for request in requests],
            [request.processing_code for request in requests],
            [request.amount for request in requests],
            [request.currency for request in requests],
            [entry.pan_masked for entry in entries],
            [seal_request(self._seal_key, request) for request in requests],
        )
        try:
            async with self._pool.acquire(timeout=self._timeout_s) as connection:
                await connection.execute(_INSERT, *columns, timeout=self._timeout_s)
        except DATABASE_ERRORS as exc:
            log.error("saf_insert_failed", rows=len(entries), error=str(exc))
            return False
        return True
