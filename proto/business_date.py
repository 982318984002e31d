"""The business date: the alliance's local date, moved to the next day at its cutover time.

A transaction posted at or after the cutover (say 23:00 in Asia/Shanghai) belongs to the next
day's clearing, so that clearing can start while the evening's trade goes on.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_ONE_DAY = timedelta(days=1)


def business_date(now: datetime, timezone: ZoneInfo, cutover_local_time: time) -> date:
    """The business date at the instant `now` (an aware datetime, UTC in practice)."""
    assert now.tzinfo is not None, "business dates are computed from aware datetimes"
    local = now.astimezone(timezone)
    local_date = local.date()
    if local.time() >= cutover_local_time:
        return local_date + _ONE_DAY
    return local_date
