"""Reading a sealed date over every partition (docs/plans/partitions.md §2): central's journal
in the caller's REPEATABLE READ transaction, each other partition's in one of its own, all at
once (each partition is its own server), then the integer sums added up (`merge_days`).

No snapshot across databases is needed: the date is sealed, so nothing posts to it any more.
With no other partition this is `read_day` on the caller's connection, exactly as before.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import TypeVar

import anyio
import asyncpg

from clearing.journal import DayJournal, Progress, merge_days, read_day
from clearing.partitions import unreadable

# One partition's read of a date: 10^7 postings take a few minutes; an hour means it hangs.
PARTITION_READ_TIMEOUT_S = 3_600.0
# A small read of one partition (a report's section, on an index): a minute means it hangs.
SMALL_READ_TIMEOUT_S = 60.0

T = TypeVar("T")


class _SharedProgress:
    """One bar for reads that run at once: the entry ids done over all partitions."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._shares: dict[str, tuple[int, int]] = {}

    def of(self, name: str) -> Progress | None:
        if self._progress is None:
            return None

        def report(done: int, total: int) -> None:
            self._shares[name] = (done, total)
            assert self._progress is not None
            self._progress(sum(d for d, _ in self._shares.values()),
                           sum(t for _, t in self._shares.values()))

        return report


async def read_day_everywhere(
    conn: asyncpg.Connection, others: Mapping[str, asyncpg.Connection], central: str,
    alliance_id: int, merchant_ids: list[int], day: date, progress: Progress | None = None,
) -> DayJournal:
    """The date summed over central (`conn`, inside the caller's REPEATABLE READ transaction)
    and every other partition; a partition that fails refuses the whole read."""
    if not others:
        return await read_day(conn, alliance_id, merchant_ids, day, progress)
    shared = _SharedProgress(progress)
    days = await on_every_partition(
        conn, others, central, lambda name, connection: read_day(
            connection, alliance_id, merchant_ids, day, shared.of(name)))
    return merge_days([days[name] for name in (central, *others)])


async def on_every_other(
    others: Mapping[str, asyncpg.Connection],
    read: Callable[[asyncpg.Connection], Awaitable[T]],
    timeout_s: float = SMALL_READ_TIMEOUT_S,
) -> list[T]:
    """`read` on each other partition in turn, each in a REPEATABLE READ READ ONLY
    transaction of its own; a partition that fails or hangs refuses the whole read."""
    return [await _in_snapshot(name, connection, read, timeout_s)
            for name, connection in others.items()]


async def _in_snapshot(
    name: str, connection: asyncpg.Connection,
    read: Callable[[asyncpg.Connection], Awaitable[T]], timeout_s: float,
) -> T:
    """`read` in a REPEATABLE READ READ ONLY transaction of partition `name`'s own; its
    failure, or `timeout_s` passing, refuses the whole read (PartitionUnreachableError)."""
    try:
        with anyio.fail_after(timeout_s):
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                return await read(connection)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        raise unreadable(name, exc) from exc


async def on_every_partition(
    conn: asyncpg.Connection, others: Mapping[str, asyncpg.Connection], central: str,
    read: Callable[[str, asyncpg.Connection], Awaitable[T]],
    timeout_s: float = PARTITION_READ_TIMEOUT_S,
) -> dict[str, T]:
    """`read(name, connection)` on central (`conn`, inside the caller's transaction) and on
    every other partition, each in a REPEATABLE READ READ ONLY transaction of its own, all at
    once (each partition is its own server); by name, central's first. A partition that
    fails or hangs refuses the whole read."""
    results: dict[str, T] = {}

    async def read_central() -> None:
        results[central] = await read(central, conn)

    async def read_other(name: str, connection: asyncpg.Connection) -> None:
        results[name] = await _in_snapshot(
            name, connection, functools.partial(read, name), timeout_s)

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(read_central)
            for name, connection in others.items():
                group.start_soon(read_other, name, connection)
    except ExceptionGroup as failed:
        raise failed.exceptions[0]  # noqa: B904 (each keeps its own cause)
    return {name: results[name] for name in (central, *others)}
