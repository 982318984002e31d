"""Sealing a business date (`jifen clearing close-day`): after it the host never posts to the
date again, so that clearing reads a journal that no longer changes.

One transaction: LOCK journal_entries in SHARE mode (it waits for the host's group commits in
flight and holds new ones off for that instant), insert the business_days row, NOTIFY the
host, which from then on posts to the day after the latest sealed date at the earliest.
"""

from __future__ import annotations

from datetime import date, datetime

import asyncpg
import msgspec

from clearing.alliance import ClearingAlliance, find_alliance
from clearing.errors import AlreadySealedError, DayOpenError
from proto.changes import CHANNEL, NOTIFY_SQL, Change, Table, encode_change

# What tells the account host a date was sealed (account_host/changes.py).
SEALED_CHANGE = Change(Table.BUSINESS_DAYS)
# Waiting for the host's group commit in flight: milliseconds; longer means something hangs.
SEAL_LOCK_TIMEOUT_S = 30


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
) -> SealedDay:
    """Seal `day` of the alliance; `now` is the clock (a parameter, so tests can move it)."""
    alliance = await find_alliance(conn, alliance_code)
    await _check_not_sealed(conn, alliance, day)
    check_closed_by_clock(alliance, day, now)
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{SEAL_LOCK_TIMEOUT_S}s'")
        await conn.execute("LOCK TABLE journal_entries IN SHARE MODE")
        await _check_not_sealed(conn, alliance, day)
        await conn.execute(
            "INSERT INTO business_days (alliance_id, business_date, sealed_at, sealed_by) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", alliance.id, day, now, sealed_by)
        if await sealed_at(conn, alliance.id, day) != now:   # a concurrent close-day won
            raise AlreadySealedError(f"{day} of alliance {alliance.code} was sealed meanwhile")
        await conn.execute(NOTIFY_SQL, CHANNEL, encode_change(SEALED_CHANGE))
    return SealedDay(alliance.code, day, now, sealed_by)
