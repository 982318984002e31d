"""The single writer: one task owns every balance. It takes a batch of queued requests, applies
them in order to the in-memory state, writes the whole batch in one statement, and only then
answers, grouped per peer.

When a batch fails, the state is rebuilt from the database, so that nothing half-applied
survives, and the writer reconnects with backoff (answering 96 to whatever queues up while the
database is away); it never stops. A batch that failed before its statement was sent (no
identifiers, a broken invariant) is answered 96 at once. A batch whose statement failed or timed
out may still have committed: the writer first fences the old connection off (terminating its
backend), then looks whether the batch landed, and sends its real answers if it did, else 96.
So a terminal never gets 96 for postings that are durable.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream

from account_host import metrics
from account_host.apply import apply_request
from account_host.config import HostConfig
from account_host.context import ApplyContext
from account_host.database import WriterDatabase, batch_landed
from account_host.errors import CommitError, HostDatabaseError
from account_host.identifiers import Identifiers
from account_host.journal import BatchWrite
from account_host.loading import load_state
from account_host.queue_items import QueueItem
from account_host.state import HostState
from proto.codes import ResponseCode
from proto.frames import Answer, Request
from proto.links import LinkPeer
from proto.pan import mask_pan

log = structlog.get_logger("account_host.writer")

# Request keys named in the log line of a failed batch; the count says how many there were.
_FAILED_KEYS_LOGGED_MAX = 20

Pending = list[tuple[LinkPeer, Request]]


class Writer:
    def __init__(
        self, config: HostConfig, database: WriterDatabase,
        queue: MemoryObjectReceiveStream[QueueItem],
    ) -> None:
        self._config = config
        self._database = database
        self._queue = queue
        self._identifiers = Identifiers(config.id_block_size)
        self.state: HostState | None = None

    async def run(self) -> None:
        assert self.state is not None, "recover() loads the state before run()"
        while True:
            pending = await self._take_batch()
            if pending:
                await self._process(pending)

    async def recover(self, unresolved: BatchWrite | None = None) -> bool:
        """(Re)open the connection and load the state, retrying with backoff until it works.
        Returns whether `unresolved` (a batch whose commit failed) had landed after all."""
        backoff_s = self._config.reconnect_backoff_min_s
        while True:
            try:
                connection = await self._database.open()
                landed = unresolved is not None and await batch_landed(
                    connection, unresolved, self._config.database_timeout_s)
                self.state = await load_state(connection, self._config)
                metrics.STATE_LOADS.inc()
                return landed
            except HostDatabaseError as exc:
                log.warning("database_unavailable", error=str(exc), retry_in_s=backoff_s)
            self._database.close()
            await self._answer_queued(ResponseCode.SYSTEM_ERROR)
            await anyio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, self._config.reconnect_backoff_max_s)

    async def _process(self, pending: Pending) -> None:
        state = self.state
        assert state is not None
        database = self._database
        batch: BatchWrite | None = None
        try:
            if not database.is_open:
                # Lost while idle, after its last batch committed: the state is still right.
                await database.open()
            await self._identifiers.reserve_for(
                database.connection, len(pending), self._config.database_timeout_s)
            now = datetime.now(UTC)
            now_s = int(now.timestamp())
            state.retransmissions.evict(now_s)
            state.tombstones.evict(now_s)
            state.returns.evict(now_s)
            batch = BatchWrite(now)
            context = ApplyContext(state, self._identifiers, batch, now)
            answers = [apply_request(context, request) for _, request in pending]
            if batch.is_empty():   # only retransmissions and 94s: nothing to write
                await _send_answers(pending, answers)
                return
            latency_s = await database.commit(batch, state.balances)
        except Exception as exc:   # database errors, and broken invariants of a half-applied state
            _log_failure(pending, exc)
            self.state = None
            landed = await self.recover(batch if isinstance(exc, CommitError) else None)
            log.warning("failed_batch_resolved", size=len(pending), landed=landed)
            if not landed:
                metrics.BATCH_FAILURES.inc()
                answers = [Answer(request.correlation_id, ResponseCode.SYSTEM_ERROR)
                           for _, request in pending]
            await _send_answers(pending, answers)
            return
        metrics.BATCH_SIZE.observe(len(pending))
        metrics.COMMIT_SECONDS.observe(latency_s)
        await _send_answers(pending, answers)

    async def _take_batch(self) -> Pending:
        """Up to batch_size_max requests (control items are applied on the way)."""
        items = [await self._queue.receive()]
        self._take_queued(items)
        wait_s = self._config.batch_wait_ms_max / 1000
        if wait_s > 0 and len(items) < self._config.batch_size_max:
            with anyio.move_on_after(wait_s):
                while len(items) < self._config.batch_size_max:
                    items.append(await self._queue.receive())
                    self._take_queued(items)
        metrics.QUEUE_DEPTH.set(self._queue.statistics().current_buffer_used)
        pending: Pending = []
        for item in items:
            if type(item) is tuple:
                pending.append(item)
            else:
                item.apply(self.state)
        return pending

    def _take_queued(self, items: list[QueueItem]) -> None:
        limit = self._config.batch_size_max
        while len(items) < limit:
            try:
                items.append(self._queue.receive_nowait())
            except anyio.WouldBlock:
                return

    async def _answer_queued(self, code: ResponseCode) -> None:
        """Answer whatever is queued with `code` (control items are dropped: the next load
        reads what they carried)."""
        pending: Pending = []
        items: list[QueueItem] = []
        self._take_queued(items)
        while items:
            pending.extend(item for item in items if type(item) is tuple)
            items.clear()
            self._take_queued(items)
        if pending:
            await _send_answers(pending, [Answer(request.correlation_id, code)
                                          for _, request in pending])


async def _send_answers(pending: Pending, answers: list[Answer]) -> None:
    """Answers grouped per peer, in request order; metrics counted per MTI and code."""
    by_peer: dict[LinkPeer, list[Answer]] = {}
    outcomes: Counter[tuple[str, str]] = Counter()
    for (peer, request), answer in zip(pending, answers, strict=True):
        by_peer.setdefault(peer, []).append(answer)
        outcomes[request.mti, answer.response_code] += 1
    for (mti, code), count in outcomes.items():
        metrics.requests(mti, code).inc(count)
    for peer, peer_answers in by_peer.items():
        await peer.send_answers(peer_answers)


def _log_failure(pending: Pending, exc: Exception) -> None:
    requests = [request for _, request in pending[:_FAILED_KEYS_LOGGED_MAX]]
    log.error("batch_failed", size=len(pending), error=repr(exc),
              requests=[request.key_text() for request in requests],
              pans=[mask_pan(request.pan) for request in requests],
              exc_info=not isinstance(exc, HostDatabaseError))
