"""Reading risk control's state: each alliance's newest settings, the baselines, and what
today's journal says of the counters, at start (within the state's snapshot) and when the
change listener hears `risk_settings` or `risk_baselines`.

The cold start stays cheap: nothing is read for an alliance without settings; for one with
limits or growth levels, today's transactions of its cards (an index range on posted_at,
aggregated by the database to one row per card and code) and today's reviews (the levels
already raised, so none is raised twice)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from account_host.risk.settings import (
    CODE_SLOTS,
    LIMITED_CODES,
    GrowthLevels,
    RiskSettings,
    VelocityLimit,
)
from account_host.risk.state import RiskState

# The transaction kind each limited processing code posts (account_host/movements.py).
_KIND_OF_CODE: dict[str, str] = {
    "000000": "purchase", "006000": "stored_value_purchase", "900000": "redemption",
    "910000": "lottery", "200000": "return", "210000": "stored_value_load",
    "400060": "points_exchange"}
_CODE_OF_KIND = {kind: code for code, kind in _KIND_OF_CODE.items()}
assert set(_KIND_OF_CODE) == set(LIMITED_CODES)
# Earnings whose points growth counts (movements.EARNING_TYPES).
_EARNING_KINDS = ["purchase", "stored_value_purchase", "offline_purchase"]

_SETTINGS_SQL = """
SELECT DISTINCT ON (alliance_id) alliance_id, version, growth_warning_multiple,
       growth_block_multiple, growth_floor_points
FROM risk_settings ORDER BY alliance_id, version DESC
"""
_LIMITS_SQL = """
SELECT processing_code, requests_per_hour_max, requests_per_day_max, amount_per_day_max
FROM risk_limits WHERE alliance_id = $1 AND version = $2
"""
_BASELINES_SQL = """
SELECT subject, subject_id, points_per_day FROM risk_baselines
WHERE alliance_id = ANY($1::integer[])
"""
# Approved requests of the alliance's cards since local midnight ($2), by card and kind; of
# them, those since the start of the clock hour ($3).
_VELOCITY_SQL = """
SELECT t.card_id, t.kind, count(*) FILTER (WHERE t.posted_at >= $3) AS hour_requests,
       count(*) AS day_requests, coalesce(sum(t.amount), 0)::bigint AS day_amount
FROM transactions t JOIN cards c ON c.id = t.card_id
WHERE t.posted_at >= $2 AND c.alliance_id = $1 AND t.kind = ANY($4::text[])
GROUP BY t.card_id, t.kind
"""
# Points earned since local midnight ($2) at the alliance's merchants, by card and merchant.
_GROWTH_SQL = """
SELECT t.card_id, t.merchant_id, sum(t.points)::bigint AS points
FROM transactions t JOIN merchants m ON m.id = t.merchant_id
WHERE t.posted_at >= $2 AND m.alliance_id = $1 AND t.kind = ANY($3::text[]) AND t.points > 0
GROUP BY GROUPING SETS ((t.card_id), (t.merchant_id))
"""
_RAISED_SQL = """
SELECT card_id, merchant_id, max(CASE level WHEN 'block' THEN 2 ELSE 1 END) AS level
FROM risk_reviews WHERE alliance_id = $1 AND raised_at >= $2
GROUP BY card_id, merchant_id
"""


_QUEUE_SQL = """
SELECT a.code, count(*) AS open, extract(epoch FROM now() - min(r.raised_at))::float8 AS age_s
FROM risk_reviews r JOIN alliances a ON a.id = r.alliance_id
WHERE r.status = 'open' GROUP BY a.code
"""


async def read_queue(connection: asyncpg.Connection) -> dict[str, tuple[int, float]]:
    """Alliance code -> (open reviews, the oldest's age in seconds): risk_reviews_open."""
    return {row["code"]: (row["open"], row["age_s"])
            for row in await connection.fetch(_QUEUE_SQL)}


class VelocityRow(msgspec.Struct, frozen=True, array_like=True, gc=False):
    alliance_id: int
    slot: int
    card_id: int
    hour: int
    hour_requests: int
    day: int
    day_requests: int
    day_amount: int


class GrowthRow(msgspec.Struct, frozen=True, array_like=True, gc=False):
    alliance_id: int
    subject: str     # 'card' or 'merchant'
    subject_id: int
    day: int
    points: int
    level: int       # raised today already


class RiskLoad(msgspec.Struct):
    """What a read found: the settings, the baselines and today's counts."""

    settings: dict[int, RiskSettings]
    baselines: list[tuple[str, int, int]]
    velocity: list[VelocityRow]
    growth: list[GrowthRow]


async def load_settings(connection: asyncpg.Connection) -> dict[int, RiskSettings]:
    """Each alliance's newest version (an alliance without any has no entry)."""
    settings: dict[int, RiskSettings] = {}
    for row in await connection.fetch(_SETTINGS_SQL):
        limits = {
            limit["processing_code"]: VelocityLimit(
                CODE_SLOTS[limit["processing_code"]], limit["requests_per_hour_max"],
                limit["requests_per_day_max"], limit["amount_per_day_max"])
            for limit in await connection.fetch(_LIMITS_SQL, row["alliance_id"],
                                                row["version"])}
        growth = None if row["growth_warning_multiple"] is None else GrowthLevels(
            row["growth_warning_multiple"], row["growth_block_multiple"],
            row["growth_floor_points"])
        if limits or growth is not None:
            settings[row["alliance_id"]] = RiskSettings(row["version"], limits, growth)
    return settings


async def read_risk(
    connection: asyncpg.Connection, timezones: dict[int, ZoneInfo], now: datetime,
) -> RiskLoad:
    """Settings, baselines and today's counts of every alliance that has settings."""
    settings = await load_settings(connection)
    growing = [alliance_id for alliance_id, one in settings.items() if one.growth is not None]
    baselines = [(row["subject"], row["subject_id"], row["points_per_day"])
                 for row in await connection.fetch(_BASELINES_SQL, growing)] if growing else []
    velocity: list[VelocityRow] = []
    growth: list[GrowthRow] = []
    hour = int(now.timestamp()) // 3600
    hour_start = datetime.fromtimestamp(hour * 3600, UTC)
    for alliance_id, one in settings.items():
        timezone = timezones.get(alliance_id)
        if timezone is None:
            continue
        local = now.astimezone(timezone).date()
        midnight = datetime.combine(local, time(0), tzinfo=timezone)
        day = local.toordinal()
        if one.limits:
            kinds = [_KIND_OF_CODE[code] for code in one.limits]
            for row in await connection.fetch(_VELOCITY_SQL, alliance_id, midnight,
                                              hour_start, kinds):
                velocity.append(VelocityRow(
                    alliance_id, CODE_SLOTS[_CODE_OF_KIND[row["kind"]]], row["card_id"], hour,
                    row["hour_requests"], day, row["day_requests"], row["day_amount"]))
        if one.growth is not None:
            growth.extend(await _growth_rows(connection, alliance_id, midnight, day))
    return RiskLoad(settings, baselines, velocity, growth)


async def _growth_rows(
    connection: asyncpg.Connection, alliance_id: int, midnight: datetime, day: int,
) -> list[GrowthRow]:
    raised = {("card", row["card_id"]) if row["card_id"] is not None
              else ("merchant", row["merchant_id"]): row["level"]
              for row in await connection.fetch(_RAISED_SQL, alliance_id, midnight)}
    rows = []
    for row in await connection.fetch(_GROWTH_SQL, alliance_id, midnight, _EARNING_KINDS):
        key = ("card", row["card_id"]) if row["card_id"] is not None \
            else ("merchant", row["merchant_id"])
        if key[1] is None:
            continue
        rows.append(GrowthRow(alliance_id, key[0], key[1], day, row["points"],
                              raised.pop(key, 0)))
    rows.extend(GrowthRow(alliance_id, subject, subject_id, day, 0, level)
                for (subject, subject_id), level in raised.items())
    return rows


def apply_risk(risk: RiskState, load: RiskLoad, *, fresh: bool) -> None:
    """Into the host's risk state. `fresh`: a state being loaded whole, so every count is
    taken; else (a reload) memory is ahead of the journal (a batch in flight), and only the
    counts of codes and alliances that were not limited before are taken from it."""
    before = risk.settings
    risk.settings = load.settings
    risk.baselines = baselines = type(risk.baselines)()
    for subject, subject_id, points_per_day in load.baselines:
        baselines.set(subject, subject_id, points_per_day)
    for row in load.velocity:
        was = before.get(row.alliance_id)
        if fresh or was is None or LIMITED_CODES[row.slot] not in was.limits:
            risk.velocity.load(row.slot, row.card_id, row.hour, row.hour_requests, row.day,
                               row.day_requests, row.day_amount)
    for growth_row in load.growth:
        was = before.get(growth_row.alliance_id)
        if not fresh and was is not None and was.growth is not None:
            continue
        _load_growth(risk, growth_row)


def _load_growth(risk: RiskState, row: GrowthRow) -> None:
    if row.subject == "card":
        risk.growth.add_card(row.subject_id, row.day, row.points)
        if row.level:
            risk.growth.raise_card(row.subject_id, row.level)
    else:
        risk.growth.add_merchant(row.subject_id, row.day, row.points)
        if row.level:
            risk.growth.raise_merchant(row.subject_id, row.level)
