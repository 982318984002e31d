"""The single writer: one task owns every balance. It takes a batch of queued requests, applies
them in order to the in-memory state, writes the whole batch in one statement, and only then
answers, grouped per peer. Each batch's way through is the state machine of group_commit.py,
whose transitions assert the invariants this module relies on.

Pipelined: while one batch's statement is in flight (a task of its own, which answers that batch
once it has committed), the writer already applies the next batch on top of it and adds to it
whatever arrives until that commit is over: a request that arrives during a commit waits for one
commit, not two. The committing task sends the next statement itself, the moment the first has
committed, before it flushes the answers and before the writer runs again (handing it back to
the writer cost 1.4 ms a cycle at 2,400 requests/s); a request the writer receives in that
instant waits for the statement after. The writer applies a burst APPLY_SLICE requests at a
time, with a checkpoint between slices, so that the committing task gets in within a slice of
its commit, not after the whole burst; and with nothing in flight (the database idle) a burst's
first slice goes at once, the rest applied on top of it. The host's CPU (applying, answering)
and PostgreSQL's (executing, flushing) then overlap instead of taking turns; at most one
statement is in flight, so batches commit in order. A batch applied on top of one that then
fails was applied to a state that is thrown away: it is abandoned, and its requests are applied
again to the reloaded one. An answer is never sent before everything it was applied on has
committed: a batch with nothing to write (retransmissions, 94s) waits for the one in flight
before it answers.

The two tasks hand batches over through `_InFlight`: `successor` (the batch the writer applies on
top, which the committing task sends), `next` (its statement, once sent), `waiting` (the
writer's wait for more requests, cancelled when the commit is over) and `done` (the outcome is
known and, after a failure, resolved). Whether a commit is over, failed or abandoned is the
batch's stage, not a flag.

A database error is not fatal: the state is rebuilt from the database, so that nothing
half-applied survives, and the writer reconnects with backoff (answering 96 to whatever queues
up while the database is away). Requests that found no connection or no identifiers are
answered 96. A batch whose statement failed or timed out may still have committed: the writer
first fences the old connection off (terminating its backend), then looks whether the batch
landed, and sends its real answers if it did, else 96. So a terminal never gets 96 for postings
that are durable.

Anything else, a broken invariant above all (an AssertionError while applying, building a
statement, or in the row counts a commit reports), is not caught: it ends the host process,
unanswered, and the supervisor restarts it on the state in the database. A request of a batch
that did commit then gets its first answer again from the retransmission window.
"""

from __future__ import annotations

import logging
import time as clock
from collections import Counter
from datetime import UTC, datetime
from typing import cast

import anyio
import msgspec
import structlog
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream

from account_host import metrics
from account_host.apply import apply_request
from account_host.commands.applying import apply_command
from account_host.commands.item import Command
from account_host.config import HostConfig
from account_host.context import ApplyContext
from account_host.database import WriterDatabase, batch_landed
from account_host.errors import CommitError, HostDatabaseError
from account_host.group_commit import GroupCommit, Pipeline, Stage
from account_host.identifiers import Identifiers
from account_host.journal import BatchArguments, BatchWrite
from account_host.loading import load_state
from account_host.queue_items import Applicable, Control, Peer, QueueItem
from account_host.state import HostState
from proto.codes import ResponseCode
from proto.frames import REQUEST_IDS_LOGGED_MAX, Answer, Request
from proto.pan import mask_pan

log = structlog.get_logger("account_host.writer")

# A writer with requests queued that takes none for this many commit timeouts is wedged (not
# ready): one commit may take commit_timeout_s before the writer gives up on it and answers 96.
WRITER_STALL_COMMITS = 2
# Requests applied between two chances for the committing task to run (about 2 ms of the
# writer's time): a commit that ends while the writer applies a burst waits for one slice, not
# the burst, before the next statement goes (docs/performance.md, "The writer's slices").
APPLY_SLICE = 32
# Request keys named in the log line of a failed batch; the count says how many there were.
_FAILED_KEYS_LOGGED_MAX = REQUEST_IDS_LOGGED_MAX

Pending = list[tuple[Peer, Applicable]]


class _Applied:
    """A batch applied to the state: its answers, what its statement writes, and its stage
    (`commit`). It grows (`add`) while the statement before it is in flight."""

    __slots__ = ("answers", "batch", "commit", "context", "pending")

    def __init__(
        self, pending: Pending, context: ApplyContext, batch: BatchWrite, commit: GroupCommit,
    ) -> None:
        self.pending: Pending = []
        self.answers: list[Answer] = []
        self.context = context
        self.batch = batch
        self.commit = commit
        self.add(pending)

    def add(self, pending: Pending) -> None:
        self.commit.take(len(pending))
        context = self.context
        self.pending.extend(pending)
        self.answers.extend([apply_request(context, request) if type(request) is Request
                             else apply_command(context, cast(Command, request))
                             for _, request in pending])


class _InFlight:
    """The statement of one applied batch, committing in a task of its own, and what the writer
    and that task hand each other meanwhile (see the module's docstring)."""

    __slots__ = ("applied", "done", "next", "successor", "waiting")

    def __init__(self, applied: _Applied) -> None:
        assert applied.commit.stage is Stage.COMMITTING
        self.applied = applied
        # Set once it has committed (its answers go out after), or it failed and the failure
        # was resolved (state reloaded, answers sent).
        self.done = anyio.Event()
        # The writer's wait for more requests while this commits: ended when it is over.
        self.waiting: anyio.CancelScope | None = None
        # The batch the writer applies on top of this one, and its statement once the
        # committing task has sent it (the moment this one committed).
        self.successor: _Applied | None = None
        self.next: _InFlight | None = None

    @property
    def is_over(self) -> bool:
        """Its outcome is known (it may still be being resolved: wait for `done`)."""
        return self.applied.commit.stage is not Stage.COMMITTING

    def over(self, *, failed: bool = False) -> None:
        """The statement's outcome is known: the writer stops adding to the next batch."""
        if failed:
            self.applied.commit.failed()
        else:
            self.applied.commit.committed()
        if self.waiting is not None:
            self.waiting.cancel()


class Writer:
    def __init__(
        self, config: HostConfig, database: WriterDatabase,
        queue: MemoryObjectReceiveStream[QueueItem], *, pan_lookup_key: bytes,
    ) -> None:
        assert len(pan_lookup_key) == 32, "the pan_lookup data key"
        self._config = config
        self._pan_lookup_key = pan_lookup_key
        self._database = database
        self._queue = queue
        self._identifiers = Identifiers(config.id_block_size, config.name)
        self._pipeline = Pipeline()
        self.state: HostState | None = None
        # Queue items taken but not applied (no identifiers left for them while a statement
        # held the connection): the next batch starts with them.
        self._held: list[QueueItem] = []
        # For readiness (read from the health endpoint's thread): when the writer last took
        # from its queue, and whether it is (re)loading the state.
        self.last_take_at = clock.monotonic()
        self.recovering = False

    def readiness(self) -> tuple[bool, str]:
        """Not wedged: not loading the state, and not sitting on a queue it does not take from
        (for WRITER_STALL_COMMITS commit timeouts: past one the writer gives up on a commit)."""
        if self.recovering:
            return False, "loading the state from the database"
        waiting = self._queue.statistics().current_buffer_used
        stalled_s = clock.monotonic() - self.last_take_at
        if waiting and stalled_s > WRITER_STALL_COMMITS * self._config.commit_timeout_s:
            return False, f"{waiting} requests queued, none taken for {stalled_s:.1f} s"
        return True, f"{waiting} requests queued"

    @property
    def is_idle(self) -> bool:
        """No batch under way and nothing queued or held: a drain may stop the writer."""
        return not self._pipeline.batches_under_way and not self._held \
            and not self._queue.statistics().current_buffer_used

    async def run(self) -> None:
        assert self.state is not None, "recover() loads the state before run()"
        in_flight: _InFlight | None = None
        async with anyio.create_task_group() as group:
            while True:
                items = await self._take_items()
                if in_flight is not None and in_flight.is_over:
                    await in_flight.done.wait()   # a failure is resolved before anything else
                    in_flight = None
                pending = self._requests_of(items)
                if pending:
                    in_flight = await self._next(group, pending, in_flight)

    async def recover(self, unresolved: BatchWrite | None = None) -> bool:
        """(Re)open the connection and load the state, retrying with backoff until it works.
        Returns whether `unresolved` (a batch whose commit failed) had landed after all."""
        backoff_s = self._config.reconnect_backoff_s_min
        self.recovering = True
        while True:
            try:
                connection = await self._database.open()
                landed = unresolved is not None and await batch_landed(
                    connection, unresolved, self._config.database_timeout_s)
                self.state = await load_state(connection, self._config, self._pan_lookup_key)
                self._pipeline.loaded()
                metrics.STATE_LOADS.inc()
                self.recovering = False
                return landed
            except HostDatabaseError as exc:
                log.warning("database_unavailable", error=str(exc), retry_in_s=backoff_s)
            self._database.close()
            await self._answer_queued(ResponseCode.SYSTEM_ERROR)
            await anyio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, self._config.reconnect_backoff_s_max)

    async def _next(
        self, group: TaskGroup, pending: Pending, in_flight: _InFlight | None,
    ) -> _InFlight | None:
        """Apply `pending` (on top of `in_flight` where it can) and have its statement sent once
        `in_flight` has committed; returns what is in flight then."""
        if in_flight is not None and not self._identifiers.can_serve(_weight(pending)):
            # Reserving needs the connection, which the statement in flight holds.
            await in_flight.done.wait()
            in_flight = None
        if in_flight is None:
            try:
                await self._prepare(_weight(pending))
            except HostDatabaseError as exc:   # no connection, or no identifiers reserved
                await self._refuse(pending, exc)
                return None
        if in_flight is None:
            # Nothing in flight: the database waits. A first slice goes at once, and the rest
            # is applied on top of it while it commits.
            first, pending = pending[:APPLY_SLICE], pending[APPLY_SLICE:]
            in_flight = await self._send(group, self._apply(first))
            if not pending:
                return in_flight
            if in_flight is None:   # the slice wrote nothing (retransmissions, 94s)
                return await self._next(group, pending, None)
        applied = self._apply([])
        in_flight.successor = applied
        if await self._apply_in_slices(applied, pending, in_flight):
            await self._add_while_committing(applied, in_flight)
        await in_flight.done.wait()
        if applied.commit.is_stale:   # the batch under it failed: apply again, on its own
            applied.commit.abandoned()
            return await self._next(group, applied.pending, None)
        sent = applied.commit.stage is not Stage.OPEN
        assert sent == (in_flight.next is not None)
        if sent:   # its committing task sent this batch's statement
            return in_flight.next
        return await self._send(group, applied)

    async def _send(self, group: TaskGroup, applied: _Applied) -> _InFlight | None:
        """Start the statement of `applied` (nothing is in flight), or answer it at once when
        it writes nothing (only retransmissions and 94s)."""
        if applied.batch.is_empty():
            applied.commit.nothing_to_write()
            await _answer(applied, applied.answers)
            return None
        started, arguments = self._sent(applied)
        group.start_soon(self._commit, started, arguments)
        return started

    async def _prepare(self, requests: int) -> None:
        """The connection (lost while idle, after its last batch committed: the state is still
        right) and identifiers for `requests` (a weight: see _weight); only while no statement
        is in flight."""
        if not self._database.is_open:
            await self._database.open()
        connection = self._database.connection
        assert connection is not None
        try:
            await self._identifiers.reserve_for(
                connection, requests, self._config.database_timeout_s)
        finally:
            if self._identifiers.rrns_unreserved is not None:
                metrics.RRNS_UNRESERVED.set(self._identifiers.rrns_unreserved)

    def _apply(self, pending: Pending) -> _Applied:
        state = self._state
        now = datetime.now(UTC)
        now_s = int(now.timestamp())
        state.retransmissions.evict(now_s)
        state.tombstones.evict(now_s)
        state.returns.evict(now_s)
        state.lottery.evict(now_s)
        batch = BatchWrite(now, self._config.name)
        context = ApplyContext(state, self._identifiers, batch, now,
                               default_partition=self._config.is_default_partition)
        return _Applied(pending, context, batch, self._pipeline.open())

    async def _apply_in_slices(
        self, applied: _Applied, pending: Pending, in_flight: _InFlight,
    ) -> bool:
        """Apply `pending` to `applied` (the batch on top of `in_flight`) APPLY_SLICE at a time,
        letting the committing task run between slices: the moment `in_flight` commits, it
        sends `applied` as it stands, and what is not applied yet goes to the next round
        (held). Returns whether all of it was applied."""
        for start in range(0, len(pending), APPLY_SLICE):
            if in_flight.is_over:
                self._held.extend(pending[start:])
                return False
            applied.add(pending[start:start + APPLY_SLICE])
            await anyio.lowlevel.checkpoint()
        return True

    async def _add_while_committing(self, applied: _Applied, in_flight: _InFlight) -> None:
        """Apply what arrives to `applied` until the statement in flight is over: a request
        that comes during a commit goes out with the next one, not the one after."""
        limit = self._config.batch_size_max
        while not in_flight.is_over and len(applied.pending) < limit:
            with anyio.CancelScope() as waiting:
                in_flight.waiting = waiting
                items = [await self._queue.receive()]
            in_flight.waiting = None
            if waiting.cancelled_caught:
                return
            self._take_queued(items, limit - len(applied.pending))
            if in_flight.is_over:
                # The state is being reloaded, or `applied` was sent as it stood (its
                # statement's arguments taken): the next round takes them.
                self._held.extend(items)
                return
            pending = self._requests_of(items)
            if not self._identifiers.can_serve(_weight(applied.pending) + _weight(pending)):
                self._held.extend(pending)
                return
            if not await self._apply_in_slices(applied, pending, in_flight):
                return

    async def _commit(self, in_flight: _InFlight, arguments: BatchArguments) -> None:
        """Commit `in_flight`, then at once the batch the writer applied on top of it (its
        statement leaves before these answers are flushed and before the writer runs again:
        the database is not kept waiting for the writer), and so on; answers each batch once it
        has committed. Only a database error is caught: a broken invariant (the commit's row
        counts) ends the process rather than answer 96 for what may be durable."""
        while True:
            applied = in_flight.applied
            try:
                latency_s = await self._database.commit(applied.batch, arguments)
            except CommitError as exc:
                in_flight.over(failed=True)
                await self._resolve_failed_commit(applied, exc)
                in_flight.done.set()
                return
            in_flight.over()
            self._state.blocks_landed(applied.batch.card_statuses)
            successor = self._take_successor(in_flight)
            in_flight.done.set()   # durable: the next statement may go while these answers do
            metrics.BATCH_SIZE.observe(len(applied.pending))
            metrics.COMMIT_SECONDS.observe(latency_s)
            await _answer(applied, applied.answers)
            if successor is None:
                return
            in_flight, arguments = successor

    def _take_successor(
        self, in_flight: _InFlight,
    ) -> tuple[_InFlight, BatchArguments] | None:
        """The batch applied on top of `in_flight` (just committed), closed as it stands and
        sent: its arguments are taken before the writer can apply anything more. None leaves
        it to the writer: nothing applied on top, or nothing to write."""
        applied = in_flight.successor
        if applied is None or applied.batch.is_empty():
            return None
        started, arguments = self._sent(applied)
        in_flight.next = started
        return started, arguments

    def _sent(self, applied: _Applied) -> tuple[_InFlight, BatchArguments]:
        """`applied` closed and in flight: its statement's arguments, taken from the state as
        it stands (its final balances, lots, standings and counters)."""
        state = self._state
        arguments = applied.batch.arguments(state.balances, state.lots,
                                            state.next_standing_seq(), state.earn_counters)
        applied.commit.send()
        return _InFlight(applied), arguments

    async def _resolve_failed_commit(self, applied: _Applied, exc: CommitError) -> None:
        """Fence off the connection that sent it and reload the state, then answer: its real
        answers if it landed after all, else 96."""
        landed = await self._reload(applied.pending, exc, applied.batch)
        applied.commit.resolved(landed=landed)
        await _answer(applied, applied.answers if landed else _system_errors(applied.pending))

    async def _refuse(self, pending: Pending, exc: HostDatabaseError) -> None:
        """Requests that found no connection or no identifiers (nothing of them applied): 96
        once the connection is back and the state reloaded."""
        await self._reload(pending, exc, None)
        await _send_answers(pending, _system_errors(pending))

    async def _reload(
        self, pending: Pending, exc: HostDatabaseError, unresolved: BatchWrite | None,
    ) -> bool:
        """Reconnect and rebuild the state, so that nothing half-applied survives; returns
        whether `unresolved` (a statement that failed) landed after all."""
        _log_failure(pending, exc)
        self.state = None
        landed = await self.recover(unresolved)
        log.warning("failed_batch_resolved", size=len(pending), landed=landed,
                    request_ids=_request_ids(pending))
        if not landed:
            metrics.BATCH_FAILURES.inc()
        return landed

    @property
    def _state(self) -> HostState:
        state = self.state
        assert state is not None
        return state

    async def _take_items(self) -> list[QueueItem]:
        """Up to batch_size_max queue items (those held first), waiting for the first."""
        if self._held:
            items, self._held = self._held, []
        else:
            items = [await self._queue.receive()]
        self._take_queued(items)
        wait_s = self._config.batch_wait_ms_max / 1000
        if wait_s > 0 and len(items) < self._config.batch_size_max:
            with anyio.move_on_after(wait_s):
                while len(items) < self._config.batch_size_max:
                    items.append(await self._queue.receive())
                    self._take_queued(items)
        metrics.QUEUE_DEPTH.set(self._queue.statistics().current_buffer_used)
        return items

    def _requests_of(self, items: list[QueueItem]) -> Pending:
        """The requests among `items`; control items are applied to the state on the way."""
        pending: Pending = []
        for item in items:
            if type(item) is tuple:   # `type() is` narrows only this branch for mypy
                pending.append(item)
            else:
                cast(Control, item).apply(self._state)
        return pending

    def _take_queued(self, items: list[QueueItem], limit: int | None = None) -> None:
        """Queued items into `items`, up to `limit` (batch_size_max) in all."""
        if limit is None:
            limit = self._config.batch_size_max
        self.last_take_at = clock.monotonic()
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
            log.warning("queued_requests_refused", response_code=code, requests=len(pending),
                        request_ids=_request_ids(pending))
            await _send_answers(pending, [Answer(request.correlation_id, code)
                                          for _, request in pending])


async def _answer(applied: _Applied, answers: list[Answer]) -> None:
    """A batch's answers, once: only after its commit, or once its failure is resolved."""
    applied.commit.answered(len(answers))
    await _send_answers(applied.pending, answers)


async def _send_answers(pending: Pending, answers: list[Answer]) -> None:
    """Answers grouped per peer, in request order, each stamped with its request's id (here,
    not where it is made: the answer remembered for a retransmission is stored without it);
    metrics counted per MTI and code; a line per answer at debug."""
    by_peer: dict[Peer, list[Answer]] = {}
    outcomes: Counter[tuple[str, str]] = Counter()
    debug = log.is_enabled_for(logging.DEBUG)
    for (peer, request), answer in zip(pending, answers, strict=True):
        if request.request_id:
            answer = msgspec.structs.replace(answer, request_id=request.request_id)
        by_peer.setdefault(peer, []).append(answer)
        outcomes[request.mti, answer.response_code] += 1
        if debug:
            log.debug("answered", request_id=request.request_id, request=request.key_text(),
                      pan=mask_pan(request.pan), response_code=answer.response_code)
    for (mti, code), count in outcomes.items():
        metrics.requests(mti, code).inc(count)
    for peer, peer_answers in by_peer.items():
        await peer.send_answers(peer_answers)


def _system_errors(pending: Pending) -> list[Answer]:
    return [Answer(request.correlation_id, ResponseCode.SYSTEM_ERROR) for _, request in pending]


def _log_failure(pending: Pending, exc: HostDatabaseError) -> None:
    requests = [request for _, request in pending[:_FAILED_KEYS_LOGGED_MAX]]
    log.error("batch_failed", size=len(pending), error=repr(exc),
              request_ids=[request.request_id for request in requests],
              requests=[request.key_text() for request in requests],
              pans=[mask_pan(request.pan) for request in requests])


def _request_ids(pending: Pending) -> list[str]:
    """The ids a line about many requests names (the first REQUEST_IDS_LOGGED_MAX)."""
    return [request.request_id for _, request in pending[:REQUEST_IDS_LOGGED_MAX]]


def _weight(pending: Pending) -> int:
    """What `pending` may take of the identifiers, in requests of the worst kind: one each,
    and a sweep command one per card it names (each may post a transaction)."""
    return len(pending) + sum(len(cast(Command, item).sweep_cards)
                              for _, item in pending if type(item) is not Request)
