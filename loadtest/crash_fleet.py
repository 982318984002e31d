"""The crash test's terminals: POS terminals on real TCP that keep going while processes die.

Each terminal signs on, then sends financial requests at a steady rate (purchases mostly, some
redemptions and stored-value loads: requests that post), each recorded in the Ledger before it
goes on the wire. It behaves as a real POS does when the system fails under it:
- a request with no answer within the terminal's timeout, or whose connection broke, gets the
  terminal's own reversal (0400, field 90 = the original's MTI, STAN and field 7), sent once it
  is connected again and retried until answered 00 or 25;
- answers in `reverse_codes` (none by default; 91, the front's "the host did not answer", for
  a front without store-and-forward) are treated as no answer and reversed the same way;
- a broken connection is reopened (and signed on again) until the run ends; a request the
  terminal could not write because the front had already closed the connection (a drain) was
  never sent, and is not recorded.
When the run stops, a terminal ends only once every reversal it owes is acknowledged.

It uses devices.terminal_client.TerminalClient (full codec, one task per request): the crash
test needs a modest rate and every answer's fields, not loadtest.terminal's lean fast path.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence

import anyio
import msgspec
from anyio.abc import TaskGroup

from devices import messages
from devices.errors import AnswerTimeoutError, DeviceError, NotSentError
from devices.stan import StanCounter
from devices.terminal_client import TerminalClient
from loadtest.crash_record import Ledger, SentRequest
from loadtest.drive import Station
from proto.codes import ResponseCode

# Between attempts to reach a front that is down; it restarts within a second or two.
RECONNECT_WAIT_S = 0.2
# Sign-on answered but not 00 (91 while the host is down): wait before the next one.
SIGN_ON_RETRY_S = 0.2
# A reversal answered other than 00/25 (91, 96 while a process restarts) is retried after this,
# doubling up to the maximum.
REVERSAL_BACKOFF_S_MIN = 0.1
REVERSAL_BACKOFF_S_MAX = 1.0
# Reversals one terminal has on the wire at once.
REVERSALS_IN_FLIGHT_MAX = 8
# An idle reversal task looks again this often (it is also woken when a reversal is queued).
REVERSAL_IDLE_WAIT_S = 0.5
# The mix: weights of purchase, redemption, stored-value load, and their amounts.
MIX_WEIGHTS = {"purchase": 70, "redemption": 15, "load": 15}
PURCHASE_FEN_RANGE = (100, 50_000)          # earns 1 point per yuan at the load-test merchants
REDEMPTION_POINTS_RANGE = (1, 20)           # declined 51 while a card has too few points
LOAD_FEN_RANGE = (100, 10_000)


class TerminalPolicy(msgspec.Struct, frozen=True):
    timeout_s: float                 # the terminal's own wait for an answer
    rate_per_s: float                # requests per second from one terminal
    in_flight_max: int = 16          # past it the terminal skips a tick (the system is slow)
    reverse_codes: frozenset[str] = frozenset()   # answers reversed like no answer (91)


class _Progress:
    """Approvals received so far, and waiters for a count to be reached."""

    def __init__(self) -> None:
        self.approvals = 0
        self._waiters: list[tuple[int, anyio.Event]] = []

    def approved(self) -> None:
        self.approvals += 1
        while self._waiters and self._waiters[0][0] <= self.approvals:
            self._waiters.pop(0)[1].set()

    async def wait_for(self, count: int) -> None:
        if self.approvals >= count:
            return
        event = anyio.Event()
        self._waiters.append((count, event))
        self._waiters.sort(key=lambda waiter: waiter[0])
        await event.wait()


class CrashTerminal:
    def __init__(self, station: Station, front: tuple[str, int], pans: Sequence[str],
                 policy: TerminalPolicy, ledger: Ledger, progress: _Progress,
                 rng: random.Random) -> None:
        self.station = station
        self.reversals: deque[SentRequest] = deque()   # owed, oldest first
        self.in_flight = 0
        self.reversing = 0                               # reversals on the wire
        self.connections = 0
        self._front, self._pans, self._policy = front, pans, policy
        self._ledger, self._progress, self._rng = ledger, progress, rng
        self._wake = anyio.Event()
        # One STAN sequence for the terminal's life, across connections, as a POS keeps it.
        self._stan = StanCounter()

    @property
    def done(self) -> bool:
        return self.in_flight == 0 and self.reversing == 0 and not self.reversals

    async def run(self, stopping: anyio.Event) -> None:
        """Connect, sign on and send, reconnecting after every break, until `stopping` is set
        and nothing is owed."""
        while not (stopping.is_set() and self.done):
            try:
                async with TerminalClient(
                    *self._front, self.station.terminal_code, self.station.merchant_code,
                    timeout_s=self._policy.timeout_s,
                ) as client:
                    self.connections += 1
                    await self._session(client, stopping)
            except DeviceError:
                pass   # the front is down or the connection broke: what it owes is queued
            if not (stopping.is_set() and self.done):
                await anyio.sleep(RECONNECT_WAIT_S)

    async def _session(self, client: TerminalClient, stopping: anyio.Event) -> None:
        while (await client.request(dict(messages.sign_on(), **{"11": self._stan.next()}))
               ).get("39") != ResponseCode.APPROVED:
            await anyio.sleep(SIGN_ON_RETRY_S)
        broken = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(self._reverse, client, stopping, broken)
            await self._pace(client, group, stopping, broken)

    async def _pace(self, client: TerminalClient, group: TaskGroup, stopping: anyio.Event,
                    broken: anyio.Event) -> None:
        interval_s = 1.0 / self._policy.rate_per_s
        # A random phase, so that the fleet's requests do not all leave at the same instant.
        next_at = anyio.current_time() + self._rng.uniform(0, interval_s)
        while not stopping.is_set() and not broken.is_set():
            await anyio.sleep(max(0.0, next_at - anyio.current_time()))
            next_at += interval_s
            if self.in_flight < self._policy.in_flight_max and not broken.is_set():
                self.in_flight += 1
                group.start_soon(self._one_request, client, broken)
        self._wake.set()

    async def _one_request(self, client: TerminalClient, broken: anyio.Event) -> None:
        """One request, recorded before it is sent; queued for reversal unless answered."""
        record: SentRequest | None = None
        try:
            assert client.batch_number is not None, "signed on"
            fields = dict(self._next_fields(client.batch_number), **{"11": self._stan.next()})
            record = self._ledger.sent(client.prepare(fields))
            answer = await client.request(record.fields)
            code = answer.get("39", "")
            self._ledger.answered(record, code)
            if code == ResponseCode.APPROVED:
                self._progress.approved()
            elif code == ResponseCode.TERMINAL_NOT_ALLOWED:
                broken.set()   # not signed on (any more): reconnect and sign on again
        except AnswerTimeoutError:
            pass
        except NotSentError:
            broken.set()
            if record is not None:
                self._ledger.withdrawn(record)
                record = None
        except DeviceError:
            broken.set()
        finally:
            self.in_flight -= 1
            if record is not None and (record.answer_code is None
                                       or record.answer_code in self._policy.reverse_codes):
                if record.answer_code is None:
                    self._ledger.unanswered()
                self.reversals.append(record)
            self._wake.set()

    def _next_fields(self, batch_number: int) -> messages.Fields:
        rng = self._rng
        pan = rng.choice(self._pans)
        kind = rng.choices(list(MIX_WEIGHTS), weights=list(MIX_WEIGHTS.values()))[0]
        if kind == "purchase":
            return messages.purchase(pan, rng.randint(*PURCHASE_FEN_RANGE), batch_number)
        if kind == "redemption":
            return messages.redemption(pan, rng.randint(*REDEMPTION_POINTS_RANGE), batch_number)
        return messages.stored_value_load(pan, rng.randint(*LOAD_FEN_RANGE), batch_number)

    async def _reverse(self, client: TerminalClient, stopping: anyio.Event,
                       broken: anyio.Event) -> None:
        """Send the reversals owed, oldest first, each until acknowledged (00 or 25), several
        at a time: a host outage leaves hundreds owed, and one round trip each would take
        longer to clear than the next outage takes to come."""
        async with anyio.create_task_group() as group:
            for _ in range(REVERSALS_IN_FLIGHT_MAX):
                group.start_soon(self._reversal_worker, client, stopping, broken)

    async def _reversal_worker(self, client: TerminalClient, stopping: anyio.Event,
                               broken: anyio.Event) -> None:
        backoff_s = REVERSAL_BACKOFF_S_MIN
        while not broken.is_set():
            if not self.reversals:
                if stopping.is_set() and self.in_flight == 0:
                    return
                if self._wake.is_set():
                    self._wake = anyio.Event()
                with anyio.move_on_after(REVERSAL_IDLE_WAIT_S):
                    await self._wake.wait()
                continue
            record = self.reversals.popleft()
            self.reversing += 1
            acknowledged = False
            try:
                answer = await client.reverse(record.fields)
                acknowledged = self._ledger.reversal_answered(record, answer.get("39", ""))
            except AnswerTimeoutError:
                pass      # sent again: a reversal is idempotent per original
            except DeviceError:
                broken.set()
            finally:
                self.reversing -= 1
                if not acknowledged:
                    self.reversals.appendleft(record)
            if acknowledged:
                backoff_s = REVERSAL_BACKOFF_S_MIN
            elif not broken.is_set():
                await anyio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, REVERSAL_BACKOFF_S_MAX)


class CrashFleet:
    """The terminals, the shared ledger, and the approvals seen (to wait for a recovery)."""

    def __init__(self, front: tuple[str, int], stations: Sequence[Station],
                 pans: Sequence[str], policy: TerminalPolicy, seed: int) -> None:
        assert stations and pans
        self.ledger = Ledger()
        self._progress = _Progress()
        self.terminals = [
            CrashTerminal(station, front, pans, policy, self.ledger, self._progress,
                          random.Random(f"{seed}:{station.terminal_code}"))
            for station in stations
        ]
        self.stopping = anyio.Event()

    @property
    def approvals(self) -> int:
        return self._progress.approvals

    @property
    def reversals_owed(self) -> int:
        return sum(len(terminal.reversals) + terminal.reversing for terminal in self.terminals)

    async def run(self) -> None:
        """Until stop(), then until every terminal has its answers and its reversals done."""
        async with anyio.create_task_group() as group:
            for terminal in self.terminals:
                group.start_soon(terminal.run, self.stopping)

    def stop(self) -> None:
        self.stopping.set()

    async def wait_for_approvals(self, count: int) -> None:
        """Until the fleet has received `count` approvals in all."""
        await self._progress.wait_for(count)
