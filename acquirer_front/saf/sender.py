"""The forwarding side of store-and-forward: pending 0420s go to the host until settled.

Each round claims at most `send_batch_max` due rows (so memory holds a batch, whatever the
backlog), pushing their next attempt out by a doubling backoff in the same statement, sends
them in one link batch, and settles what the host answered: 00 (reversed, now or before) and
25 (the original never came; the host keeps a tombstone and will refuse it with 05) both
acknowledge; 91, 96 or no answer leave the row for its next attempt; any other code is the
host's final refusal (12 batch closed, 51 or 61 flagged for review, ...) and is kept as
A 0500 owed is acknowledged by 00 or 95 (its batch closed, in every partition), left pending by
91, 96 or no answer, and refused by anything else (12: not the open batch anywhere, for
operators). A 0500 goes only once every older row of its terminal is settled: it closes its
batch, so a reversal of that batch sent after it would be refused 12, and a terminal's later
0500 would find its batch not yet open. Rows are otherwise sent by due time, so a row that
keeps failing holds back nothing but its terminal's 0500s. A crash between claim and settle
only delays the row. A row whose
sealed 0420 does not open (another key, damaged) is refused at once, logged with why, and the
others of its batch are sent as usual.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio
import asyncpg
import msgspec
import structlog

from acquirer_front import metrics
from acquirer_front.errors import DATABASE_ERRORS
from acquirer_front.saf.entries import open_request
from proto.codes import Mti, ResponseCode
from proto.frames import Answer, Request
from proto.keys import KeyStoreError

log = structlog.get_logger("acquirer_front.saf.sender")

ACKNOWLEDGED = frozenset({ResponseCode.APPROVED, ResponseCode.ORIGINAL_NOT_FOUND})
# A reconciliation's answers that close its batch.
CLOSED = frozenset({ResponseCode.APPROVED, ResponseCode.OUT_OF_BALANCE})
# The host did not decide: another attempt may get through.
TRANSIENT = frozenset({ResponseCode.HOST_UNAVAILABLE, ResponseCode.SYSTEM_ERROR})
# Settled rows deleted per statement when pruning, and how often pruning runs: small
# statements that never hold the table for long.
_PRUNE_ROWS_MAX = 10_000
_PRUNE_INTERVAL_S = 3_600.0

_CLAIM = """
UPDATE front_saf SET attempts = attempts + 1,
    next_attempt_at = now() + make_interval(
        secs => least($2::float8, $3::float8 * power(2, least(attempts, 30))))
WHERE id IN (SELECT id FROM front_saf AS s WHERE state = 'pending' AND next_attempt_at <= now()
               AND (origin <> 'reconciliation' OR NOT EXISTS (
                   SELECT 1 FROM front_saf AS o WHERE o.state = 'pending'
                   AND o.terminal_code = s.terminal_code AND o.id < s.id))
             ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING id, terminal_code, original_data, request
"""
_SETTLE = """
UPDATE front_saf AS saf SET state = settled.state, last_response_code = settled.code,
    settled_at = CASE WHEN settled.state = 'pending' THEN NULL ELSE now() END
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS settled (id, state, code)
WHERE saf.id = settled.id AND saf.state = 'pending'
"""
_BACKLOG = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
FROM front_saf WHERE state = 'pending'
"""
_PRUNE = """
DELETE FROM front_saf WHERE id IN (
    SELECT id FROM front_saf WHERE state <> 'pending'
    AND settled_at < now() - make_interval(days => $1) LIMIT $2)
"""


class Link(Protocol):
    """The upstream's raw batch send (acquirer_front.upstream.Upstream)."""

    @property
    def is_up(self) -> bool: ...

    async def send_batch(self, requests: list[Request], deadline: float
                         ) -> list[Answer | None]: ...


class SenderSettings(Protocol):
    # Read-only, as the frozen FrontConfig's fields are.
    @property
    def saf_send_batch_max(self) -> int: ...
    @property
    def saf_backoff_s_min(self) -> float: ...
    @property
    def saf_backoff_s_max(self) -> float: ...
    @property
    def saf_poll_interval_s(self) -> float: ...
    @property
    def saf_retention_days(self) -> int: ...
    @property
    def answer_timeout_s(self) -> float: ...
    @property
    def database_timeout_s(self) -> float: ...


def outcome(answer: Answer | None, mti: str = Mti.REVERSAL_ADVICE) -> str:
    """The row's state after this answer to its request of `mti` (a 0420 or a 0500)."""
    if answer is None or answer.response_code in TRANSIENT:
        return "pending"
    settling = CLOSED if mti == Mti.RECONCILIATION else ACKNOWLEDGED
    return "acknowledged" if answer.response_code in settling else "refused"


class SafSender:
    def __init__(
        self, pool: asyncpg.Pool, link: Link, settings: SenderSettings, *, seal_key: bytes,
    ) -> None:
        assert settings.saf_send_batch_max > 0
        assert 0 < settings.saf_backoff_s_min <= settings.saf_backoff_s_max
        self._pool = pool
        self._seal_key = seal_key
        self._link = link
        self._settings = settings
        self._wake = anyio.Event()
        self._pruned_at = float("-inf")

    def wake(self) -> None:
        """New rows: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Send due rows until cancelled. Database trouble is logged and retried next poll."""
        settings = self._settings
        while True:
            self._wake = anyio.Event()   # a wake during this round makes the next one at once
            sent = 0
            try:
                if self._link.is_up:
                    sent = await self.send_due()
                await self._refresh_backlog()
                await self._prune()
            except DATABASE_ERRORS as exc:
                log.warning("saf_round_failed", error=str(exc))
            if sent >= settings.saf_send_batch_max:
                continue   # a full batch: more may be due
            with anyio.move_on_after(settings.saf_poll_interval_s):
                await self._wake.wait()

    async def send_due(self) -> int:
        """One round: claim, send, settle. The number of rows sent."""
        settings = self._settings
        timeout_s = settings.database_timeout_s
        async with self._pool.acquire(timeout=timeout_s) as connection:
            rows = await connection.fetch(
                _CLAIM, settings.saf_send_batch_max, settings.saf_backoff_s_max,
                settings.saf_backoff_s_min, timeout=timeout_s)
        if not rows:
            return 0
        readable, unreadable = self._open_rows(rows)
        requests = [request for _, request in readable]
        answers: list[Answer | None] = []
        if requests:
            metrics.SAF_SENT.inc(len(requests))
            deadline = anyio.current_time() + settings.answer_timeout_s
            answers = await self._link.send_batch(requests, deadline)
        states = [outcome(answer, request.mti)
                  for request, answer in zip(requests, answers, strict=True)]
        # A row that does not open can never be sent: it is refused (no response code), for
        # operators, rather than retried forever or allowed to stop this loop.
        async with self._pool.acquire(timeout=timeout_s) as connection:
            await connection.execute(
                _SETTLE, [row_id for row_id, _ in readable] + unreadable,
                states + ["refused"] * len(unreadable),
                [answer.response_code if answer else None for answer in answers]
                + [None] * len(unreadable),
                timeout=timeout_s)
        if unreadable:
            metrics.SAF_SETTLED.labels("refused").inc(len(unreadable))
        for request, state, answer in zip(requests, states, answers, strict=True):
            if state == "pending":   # tried again after a backoff: a line per try, at debug
                log.debug("saf_still_pending", request_id=request.request_id,
                          request=request.key_text(),
                          response_code=answer.response_code if answer else None)
            else:
                metrics.SAF_SETTLED.labels(state).inc()
                emit = log.info if state == "acknowledged" else log.error
                emit("saf_" + state, request_id=request.request_id, request=request.key_text(),
                     original=request.original_data,
                     response_code=answer.response_code if answer else None)
        return len(rows)

    def _open_rows(
        self, rows: list[asyncpg.Record],
    ) -> tuple[list[tuple[int, Request]], list[int]]:
        """(row id, its 0420) of the rows that open, and the ids of those that do not (sealed
        under another key, damaged, or not a request once opened), each logged with why."""
        readable, unreadable = [], []
        for row in rows:
            try:
                request = open_request(self._seal_key, row["request"], row["terminal_code"],
                                       row["original_data"], 0)
            except (KeyStoreError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.error("saf_refused_unreadable", saf_id=row["id"],
                          terminal=row["terminal_code"], original=row["original_data"],
                          reason=f"{type(exc).__name__}: {exc}")
                unreadable.append(row["id"])
            else:
                readable.append((row["id"], request))
        return readable, unreadable

    async def _refresh_backlog(self) -> None:
        timeout_s = self._settings.database_timeout_s
        async with self._pool.acquire(timeout=timeout_s) as connection:
            row = await connection.fetchrow(_BACKLOG, timeout=timeout_s)
        assert row is not None, "an aggregate gives one row"
        pending, oldest_age_s = row
        metrics.SAF_PENDING.set(pending)
        metrics.SAF_OLDEST_AGE.set(oldest_age_s)

    async def _prune(self) -> None:
        now = time.monotonic()
        if now - self._pruned_at < _PRUNE_INTERVAL_S:
            return
        self._pruned_at = now
        timeout_s = self._settings.database_timeout_s
        async with self._pool.acquire(timeout=timeout_s) as connection:
            await connection.execute(_PRUNE, self._settings.saf_retention_days, _PRUNE_ROWS_MAX,
                                     timeout=timeout_s)
