"""Sealing a business date (`jifen clearing close-day`): after it the host never posts to the
date again, so that clearing reads a journal that no longer changes.

One transaction: LOCK journal_entries in SHARE mode (it waits for the host's group commits in
flight and holds new ones off for that instant), insert the business_days row, NOTIFY the
host, which from then on posts to the day after the latest sealed date at the earliest.

With partitions (docs/plans/partitions.md §2) each other partition's journal is locked first,
in a transaction of its own; then central's transaction runs as above and commits, and only
then do the partitions' transactions end. Their hosts learn of the seal when the row reaches
them by replication (its trigger notifies `business_days`). A partition that cannot be reached
or locked refuses the seal: nothing is written.
"""

from __future__ import annotations

import contextlib
from contextlib import AsyncExitStack
from datetime import date, datetime

import anyio
import asyncpg
import msgspec
from asyncpg.transaction import Transaction

from clearing.alliance import ClearingAlliance, find_alliance
from clearing.errors import AlreadySealedError, DayOpenError
from clearing.partitions import PartitionSetup, find_partitions, partition_connections, unreadable
from proto.changes import CHANNEL, NOTIFY_SQL, Change, Table, encode_change

# What tells the account host a date was sealed (account_host/changes.py).
SEALED_CHANGE = Change(Table.BUSINESS_DAYS)
# Waiting for the host's group commit in flight: milliseconds; longer means something hangs.
SEAL_LOCK_TIMEOUT_S = 30
# A partition's lock over the network: its lock_timeout, and as long again for the round trip
# to a server that stopped answering.
PARTITION_LOCK_WAIT_S_MAX = 2 * SEAL_LOCK_TIMEOUT_S


class SealedDay(msgspec.Struct, frozen=True):
    alliance_code: str
    business_date: date
    sealed_at: datetime
    sealed_by: str


async def sealed_at(conn: asyncpg.Connection, alliance_id: int, day: date) -> datetime | None:
    return await conn.fetchval(
        "SELECT sealed_at FROM business_days WHERE alliance_id = $1 AND business_date = $2",
        alliance_id, day)


async def _check_not_sealed(
    conn: asyncpg.Connection, alliance: ClearingAlliance, day: date
) -> None:
    before = await sealed_at(conn, alliance.id, day)
    if before is not None:
        raise AlreadySealedError(f"{day} of alliance {alliance.code} was sealed at "
                                 f"{before.isoformat(timespec='seconds')}")


def check_closed_by_clock(alliance: ClearingAlliance, day: date, now: datetime) -> None:
    open_date = alliance.open_date(now)
    if day >= open_date:
        until = alliance.closes_at(day).isoformat(timespec="minutes")
        state = "is still the open business date" if day == open_date else "has not begun"
        raise DayOpenError(f"{day} of alliance {alliance.code} {state} "
                           f"(open until {until}, {alliance.timezone}); seal it after that")


async def close_day(
    conn: asyncpg.Connection, alliance_code: str, day: date, now: datetime, sealed_by: str,
    partitions: PartitionSetup | None = None,
) -> SealedDay:
    """Seal `day` of the alliance; `now` is the clock (a parameter, so tests can move it);
    `partitions` None: no `[partitions.<name>]` is configured."""
    alliance = await find_alliance(conn, alliance_code)
    await _check_not_sealed(conn, alliance, day)
    check_closed_by_clock(alliance, day, now)
    found = await find_partitions(conn, partitions)
    async with partition_connections(found) as others, AsyncExitStack() as locked:
        for name, other in others.items():
            transaction = other.transaction()
            try:
                with anyio.fail_after(PARTITION_LOCK_WAIT_S_MAX):
                    await transaction.start()
                    locked.push_async_callback(_release, transaction)
                    await _lock_journal(other)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError,
                    TimeoutError) as exc:
                raise unreadable(name, exc, "locked") from exc
        await _seal(conn, alliance, day, now, sealed_by)
    return SealedDay(alliance.code, day, now, sealed_by)


async def _release(transaction: Transaction) -> None:
    """End a partition's lock once central has committed (or failed): it wrote nothing, and
    a connection lost by then has let the lock go with it, so an error here changes nothing."""
    with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        with anyio.fail_after(PARTITION_LOCK_WAIT_S_MAX):
            await transaction.rollback()


async def _lock_journal(conn: asyncpg.Connection) -> None:
    """Inside a transaction: wait for the host's group commit in flight, hold new ones off."""
    await conn.execute(f"SET LOCAL lock_timeout = '{SEAL_LOCK_TIMEOUT_S}s'")
    await conn.execute("LOCK TABLE journal_entries IN SHARE MODE")


async def _seal(
    conn: asyncpg.Connection, alliance: ClearingAlliance, day: date, now: datetime,
    sealed_by: str,
) -> None:
    async with conn.transaction():
        await _lock_journal(conn)
        await _check_not_sealed(conn, alliance, day)
        await conn.execute(
            "INSERT INTO business_days (alliance_id, business_date, sealed_at, sealed_by) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", alliance.id, day, now, sealed_by)
        if await sealed_at(conn, alliance.id, day) != now:   # a concurrent close-day won
            raise AlreadySealedError(f"{day} of alliance {alliance.code} was sealed meanwhile")
        await conn.execute(NOTIFY_SQL, CHANNEL, encode_change(SEALED_CHANGE))
