"""Sends fuzz cases to a front over TCP and checks every outcome against the oracle.

Several connections run at once, each reused for as long as the front keeps it: the frames
that must be answered are pipelined in batches and their answers compared as a multiset (they
may overtake each other); a frame that must close the connection is sent only after the
answers before it have arrived (answers in flight when a connection closes are abandoned, so
they could not be checked), then the connection must end without a byte more.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import anyio
import msgspec
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from loadtest.fuzz_cases import Case
from loadtest.fuzz_oracle import AnswerKey, Expectation, expect, received_key
from proto.errors import FramingError
from proto.framing import FRAME_SIZE_MAX, read_frame
from proto.iso_codec import decode_iso

# Frames in flight on one connection: under the front's pipelined_requests_max (64).
BATCH_FRAMES_MAX = 32
# Failures kept with their bytes for the report; the rest are only counted.
FAILURE_EXAMPLES_MAX = 20
_CLOSED = (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError,
           anyio.ClosedResourceError, OSError)


class _FrontGone(Exception):
    """The front accepts no connection: the worker stops (the caller checks the process)."""


class Tally(msgspec.Struct):
    """Outcomes: frames answered (by response code), connections closed by the front on a
    malformed frame, cases not sent because they held a valid request, and failures."""

    frames: int = 0
    answered: dict[str, int] = {}
    closed: int = 0
    closed_by_reason: dict[str, int] = {}
    skipped_valid: int = 0
    cases_by_kind: dict[str, int] = {}
    connections: int = 0
    failures: int = 0
    failure_examples: list[str] = []
    elapsed_s: float = 0.0

    def fail(self, what: str, case: Case | None = None) -> None:
        self.failures += 1
        if len(self.failure_examples) < FAILURE_EXAMPLES_MAX:
            detail = f" [{case.kind}] {case.stream.hex()}" if case is not None else ""
            self.failure_examples.append(what + detail)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s else 0.0


def _count(counts: dict[str, int], key: str, amount: int = 1) -> None:
    counts[key] = counts.get(key, 0) + amount


class _Connection:
    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.buffered = BufferedByteReceiveStream(stream)


class FuzzDriver:
    def __init__(self, address: tuple[str, int], tally: Tally, *, timeout_s: float = 10.0,
                 frame_size_max: int = FRAME_SIZE_MAX) -> None:
        self._address = address
        self._tally = tally
        self._timeout_s = timeout_s
        self._frame_size_max = frame_size_max

    async def run(self, cases: Iterator[Case], connections: int) -> Tally:
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(connections):
                group.start_soon(self._worker, cases)
        self._tally.elapsed_s += time.perf_counter() - started
        return self._tally

    async def _worker(self, cases: Iterator[Case]) -> None:
        try:
            await self._send_cases(cases)
        except _FrontGone as exc:
            self._tally.fail(f"cannot connect to the front: {exc.__cause__!r}")

    async def _send_cases(self, cases: Iterator[Case]) -> None:
        connection: _Connection | None = None
        batch: list[tuple[Case, Expectation]] = []
        try:
            for case in cases:
                expectation = expect(case.stream, self._frame_size_max)
                _count(self._tally.cases_by_kind, case.kind)
                if expectation.valid:
                    self._tally.skipped_valid += 1
                    continue
                if expectation.oracle_error:
                    self._tally.fail(f"decoder raised {expectation.oracle_error}", case)
                    continue
                if expectation.frames:
                    batch.append((case, expectation))
                frames_batched = sum(len(item.frames) for _, item in batch)
                if batch and (expectation.tail or frames_batched >= BATCH_FRAMES_MAX):
                    connection = await self._exchange(connection, batch)
                    batch = []
                if expectation.tail:
                    await self._expect_close(connection, case, expectation)
                    connection = None
            if batch:
                connection = await self._exchange(connection, batch)
        finally:
            if connection is not None:
                await connection.stream.aclose()

    async def _connect(self) -> _Connection:
        try:
            with anyio.fail_after(self._timeout_s):
                stream = await anyio.connect_tcp(*self._address)
        except (OSError, TimeoutError) as exc:
            raise _FrontGone from exc
        self._tally.connections += 1
        return _Connection(stream)

    async def _exchange(self, connection: _Connection | None,
                        batch: list[tuple[Case, Expectation]]) -> _Connection | None:
        """Send the batch's frames at once, read as many answers, compare them as a multiset."""
        connection = connection or await self._connect()
        expected: Counter[AnswerKey] = Counter()
        for _, expectation in batch:
            expected.update(expectation.answers)
        count = sum(expected.values())
        received: Counter[AnswerKey] = Counter()
        try:
            with anyio.fail_after(self._timeout_s):
                await connection.stream.send(b"".join(
                    frame for _, expectation in batch for frame in expectation.frames))
                for _ in range(count):
                    tpdu, body = await read_frame(connection.buffered)
                    received[received_key(tpdu, decode_iso(body))] += 1
        except (*_CLOSED, TimeoutError, FramingError) as exc:
            self._tally.fail(f"{count} answers due, {sum(received.values())} came: {exc!r}",
                             batch[0][0])
            await connection.stream.aclose()
            return None
        self._tally.frames += count
        for key, number in received.items():
            _count(self._tally.answered, key[4], number)
        if received != expected:
            missing, extra = expected - received, received - expected
            self._tally.fail(f"answers differ: missing {dict(missing)}, extra {dict(extra)}",
                             batch[0][0])
        return connection

    async def _expect_close(self, connection: _Connection | None, case: Case,
                            expectation: Expectation) -> None:
        connection = connection or await self._connect()
        self._tally.frames += 1
        try:
            with anyio.fail_after(self._timeout_s):
                try:
                    await connection.stream.send(expectation.tail)
                    if expectation.tail_needs_end:
                        await connection.stream.send_eof()
                    data = await connection.buffered.receive()
                except _CLOSED:
                    self._tally.closed += 1
                    _count(self._tally.closed_by_reason, expectation.close_reason)
                    return
            self._tally.fail(f"{expectation.close_reason}: a close was due, got {data!r}", case)
        except TimeoutError:
            self._tally.fail(f"{expectation.close_reason}: no close within "
                             f"{self._timeout_s} s", case)
        finally:
            await connection.stream.aclose()
