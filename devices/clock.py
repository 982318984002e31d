"""The terminal's clock fields: 7 in UTC, 12 and 13 in the terminal's local time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def clock_fields(now: datetime) -> dict[str, str]:
    """Fields 7 (MMDDhhmmss UTC), 12 (hhmmss local) and 13 (MMDD local) for an aware `now`."""
    assert now.tzinfo is not None, "the clock must give aware datetimes"
    utc = now.astimezone(UTC)
    local = now.astimezone()
    return {
        "7": utc.strftime("%m%d%H%M%S"),
        "12": local.strftime("%H%M%S"),
        "13": local.strftime("%m%d"),
    }
