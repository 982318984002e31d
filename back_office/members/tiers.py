"""A member's tier as staff see it (`jifen member show`): read-only, from the standing the
account host writes (tier_standings_current: the holder's row or a newer copy on one of its
cards' points accounts, migration 027; proto/tiers.py packs it). The host keeps the live
standing in memory; what is read here is as of its last group commit that changed it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from proto.tiers import month_key, standing_total


class TierShown(msgspec.Struct, frozen=True):
    tier: str
    tier_until: str | None   # the tier's last sure day; None: the base tier
    rolling_total: int       # the rolling 12 months' count: fen spent or points earned


# The member's standing where its cards are (a partition's host writes its own).
TIER_SQL = """
SELECT s.tier, s.tier_until, s.standing, a.timezone
FROM tier_standings_current s JOIN alliances a ON a.id = s.alliance_id
WHERE s.holder = $1
"""


async def member_tier(conn: asyncpg.Connection, member_id: int) -> TierShown | None:
    """The member's standing (None: none yet, the base tier where the alliance has tiers)."""
    return tier_shown(await conn.fetchrow(TIER_SQL, member_id))


def tier_shown(row: asyncpg.Record | None) -> TierShown | None:
    """A row of TIER_SQL as staff see it (None: no standing)."""
    if row is None:
        return None
    local = datetime.now(UTC).astimezone(ZoneInfo(row["timezone"])).date()
    total = standing_total(row["standing"], month_key(local.year, local.month))
    until = row["tier_until"]
    return TierShown(row["tier"], None if until is None else until.isoformat(), total)
