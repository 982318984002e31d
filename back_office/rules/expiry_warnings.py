"""The expiry warning run (docs/rules.md, "Expiring points"; docs/operations.md,
"Notifications"): one `points_expiring` event in the notification outbox for each card of the
alliance whose soonest lot's last day is within the warning window of the rules in force
(`expiry.warning_days`), with that lot's points and day. All in one transaction, and
idempotent per card and expiry day (a unique index): the run repeated, or run daily, warns of
each lot once. The lots are the host's (accounts.lots, written with every batch): a lot spent
since the host last wrote them is not there.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from back_office.provisioning.alliances import alliance_id
from back_office.rules.earn_rules import rules_in_force
from proto.earn_rules import EarnRules
from proto.lots import read_lots
from proto.notifications import NotificationKind

# The cards whose soonest lot's last day falls in [from, through], on the index-free scan of the
# alliance's points accounts (a nightly job: a sequential read of one alliance's rows).
_DUE_SQL = """
SELECT a.card_id, a.lots
FROM accounts a
JOIN cards c ON c.id = a.card_id
WHERE a.kind = 'member_points' AND c.alliance_id = $1
  AND a.lots_expire_first BETWEEN $2 AND $3
ORDER BY a.card_id
"""

_WARN_SQL = """
INSERT INTO notification_outbox (kind, card_id, points, expiry_day, business_date, created_at)
SELECT $1, w.card_id, w.points, w.expiry_day, $5, now()
FROM unnest($2::bigint[], $3::bigint[], $4::date[]) AS w(card_id, points, expiry_day)
ON CONFLICT (card_id, expiry_day) WHERE kind = 'points_expiring' DO NOTHING
"""


class ExpiryWarnings(msgspec.Struct, frozen=True):
    alliance_code: str
    on: date                 # the alliance's local day the window starts
    warning_days: int | None   # None: its rules in force let no points expire
    cards: int               # cards with points expiring in the window
    written: int             # warnings written now (the others were written before)


async def warn_expiring(
    conn: asyncpg.Connection, alliance_code: str, on: date | None = None,
) -> ExpiryWarnings:
    """Write the alliance's warnings for `on` (default: its local today)."""
    alliance = await alliance_id(conn, alliance_code)
    if on is None:
        timezone = await conn.fetchval("SELECT timezone FROM alliances WHERE id = $1", alliance)
        on = datetime.now(UTC).astimezone(ZoneInfo(timezone)).date()
    version = await rules_in_force(conn, alliance_code, on)
    expiry = None if version is None else msgspec.convert(version.document, EarnRules).expiry
    if expiry is None:
        return ExpiryWarnings(alliance_code, on, None, 0, 0)
    through = on + timedelta(days=expiry.warning_days)
    async with conn.transaction():
        rows = await conn.fetch(_DUE_SQL, alliance, on, through)
        cards: list[int] = []
        points: list[int] = []
        days: list[date] = []
        for row in rows:
            lots = read_lots(row["lots"])
            if not lots:
                continue
            day, lot_points = lots[0]
            cards.append(row["card_id"])
            points.append(lot_points)
            days.append(day)
        status = await conn.execute(_WARN_SQL, NotificationKind.POINTS_EXPIRING, cards, points,
                                    days, on)
    return ExpiryWarnings(alliance_code, on, expiry.warning_days, len(cards),
                          int(status.rsplit(" ", 1)[1]))
