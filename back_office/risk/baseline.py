"""The nightly baseline (`jifen risk baseline`, jifen-risk-baseline.timer): each card's and
merchant's average points per day over the 30 business dates through a date, for every
alliance whose risk settings have growth levels, into risk_baselines, which the account host
loads (NOTIFY risk_baselines). One grouped read over the business-date index per alliance;
the host never averages anything itself."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table

BASELINE_DAYS = 30
# What a card or merchant earns, or issues, in points (account_host/movements.py).
_EARNING_KINDS = ["purchase", "stored_value_purchase", "offline_purchase"]

_ALLIANCES_SQL = """
SELECT DISTINCT ON (s.alliance_id) s.alliance_id, a.code, a.timezone,
       s.growth_warning_multiple
FROM risk_settings s JOIN alliances a ON a.id = s.alliance_id
ORDER BY s.alliance_id, s.version DESC
"""
# Earned points of the alliance's merchants' transactions on the dates [$2, $3], by card and
# by merchant, over 30 days (rounded down; a row of 0 is not written).
_BASELINE_SQL = """
INSERT INTO risk_baselines (alliance_id, subject, subject_id, through_date, points_per_day)
SELECT $1, CASE WHEN grouping(t.card_id) = 0 THEN 'card' ELSE 'merchant' END,
       coalesce(t.card_id, t.merchant_id), $3, div(sum(t.points), $4::integer)::bigint
FROM transactions t JOIN merchants m ON m.id = t.merchant_id
WHERE t.business_date BETWEEN $2 AND $3 AND m.alliance_id = $1
  AND t.kind = ANY($5::text[]) AND t.points > 0
GROUP BY GROUPING SETS ((t.card_id), (t.merchant_id))
HAVING div(sum(t.points), $4::integer) > 0 AND (t.card_id IS NOT NULL OR t.merchant_id IS NOT NULL)
"""


class BaselineRun(msgspec.Struct, frozen=True):
    alliance_code: str
    through: date
    cards: int
    merchants: int


async def compute_baselines(
    conn: asyncpg.Connection, through: date | None = None,
) -> list[BaselineRun]:
    """Every growth-checked alliance's baselines through `through` (default: the alliance's
    local yesterday), each alliance's rows replaced in one transaction; safe to repeat."""
    runs = []
    for alliance in await conn.fetch(_ALLIANCES_SQL):
        if alliance["growth_warning_multiple"] is None:
            continue
        last = through or (datetime.now(UTC).astimezone(ZoneInfo(alliance["timezone"])).date()
                           - timedelta(days=1))
        async with conn.transaction():
            await conn.execute("DELETE FROM risk_baselines WHERE alliance_id = $1",
                               alliance["alliance_id"])
            await conn.execute(_BASELINE_SQL, alliance["alliance_id"],
                               last - timedelta(days=BASELINE_DAYS - 1), last,
                               BASELINE_DAYS, _EARNING_KINDS)
            counts: dict[str, int] = {row["subject"]: row["count"] for row in await conn.fetch(
                "SELECT subject, count(*) FROM risk_baselines WHERE alliance_id = $1"
                " GROUP BY subject", alliance["alliance_id"])}
            run = BaselineRun(alliance["code"], last, counts.get("card", 0),
                              counts.get("merchant", 0))
            await record(conn, "risk.baseline", "alliance", alliance["code"],
                         after={"through": str(last), "cards": run.cards,
                                "merchants": run.merchants})
            await notify_change(conn, Change(Table.RISK_BASELINES))
        runs.append(run)
    return runs
