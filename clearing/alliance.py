"""The alliance being cleared and its calendar: its open business date by the clock, its
sealed dates, and its merchants."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from clearing.errors import UnknownError
from proto.business_date import business_date


class ClearingAlliance(msgspec.Struct, frozen=True):
    id: int
    code: str
    timezone: str
    cutover_local_time: time

    def open_date(self, now: datetime) -> date:
        """The business date the host's clock gives at `now` (before any sealing)."""
        return business_date(now, ZoneInfo(self.timezone), self.cutover_local_time)

    def closes_at(self, day: date) -> datetime:
        """The instant `day` stops being the open date: the cutover on local date `day`."""
        return datetime.combine(day, self.cutover_local_time, ZoneInfo(self.timezone))


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise UnknownError(f"bad date {text!r}: expected YYYY-MM-DD") from exc


async def find_alliance(conn: asyncpg.Connection, code: str) -> ClearingAlliance:
    row = await conn.fetchrow(
        "SELECT id, code, timezone, cutover_local_time FROM alliances WHERE code = $1", code)
    if row is None:
        raise UnknownError(f"no alliance {code}; `jifen alliance list` shows them")
    return ClearingAlliance(row["id"], row["code"], row["timezone"], row["cutover_local_time"])


async def find_merchant(conn: asyncpg.Connection, alliance: ClearingAlliance, code: str) -> int:
    merchant_id = await conn.fetchval(
        "SELECT id FROM merchants WHERE merchant_code = $1 AND alliance_id = $2",
        code, alliance.id)
    if merchant_id is None:
        raise UnknownError(f"no merchant {code} in alliance {alliance.code}; "
                           f"`jifen merchant list --alliance {alliance.code}` shows them")
    return merchant_id


async def merchant_codes(conn: asyncpg.Connection, alliance_id: int) -> dict[int, str]:
    rows = await conn.fetch(
        "SELECT id, merchant_code FROM merchants WHERE alliance_id = $1", alliance_id)
    return {row["id"]: row["merchant_code"] for row in rows}
