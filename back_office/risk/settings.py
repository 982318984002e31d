"""An alliance's risk settings (docs/rules.md, "Risk control"): velocity limits per
processing code and the levels of abnormal growth, as versions. A change is a new version,
whole; every version is kept. Each writes its audit row and announces itself to the account
host (NOTIFY risk_settings), which applies it from its next batch."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning.alliances import alliance_id
from back_office.provisioning.errors import InvalidValueError
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table

# The 0200 processing codes a limit may name (host interface §4; migration 034).
LIMITED_CODES = ("000000", "006000", "900000", "910000", "200000", "210000", "400060")
# A count per hour or per day is at most this (the host keeps 16 bits); an amount, field 4's.
REQUESTS_MAX = 60_000
# The host counts a day's amount in 32 bits (account_host/risk/velocity.py).
AMOUNT_MAX = 4_000_000_000
MULTIPLE_MIN, MULTIPLE_MAX = 2, 1_000
FLOOR_POINTS_MAX = 1_000_000_000_000


class VelocityLimit(msgspec.Struct, frozen=True):
    processing_code: str
    requests_per_hour_max: int | None = None
    requests_per_day_max: int | None = None
    amount_per_day_max: int | None = None


class GrowthLevels(msgspec.Struct, frozen=True):
    warning_multiple: int
    block_multiple: int
    floor_points: int


class RiskSettings(msgspec.Struct, frozen=True):
    alliance_code: str
    version: int
    limits: list[VelocityLimit]
    growth: GrowthLevels | None
    created_by: str
    created_at: datetime


def check_settings(limits: list[VelocityLimit], growth: GrowthLevels | None) -> None:
    """InvalidValueError naming the first value out of its range."""
    codes = [limit.processing_code for limit in limits]
    if len(set(codes)) != len(codes):
        raise InvalidValueError("one --limit per processing code")
    for limit in limits:
        if limit.processing_code not in LIMITED_CODES:
            raise InvalidValueError(f"processing code {limit.processing_code} cannot be limited:"
                                    f" one of {', '.join(LIMITED_CODES)}")
        counts = (limit.requests_per_hour_max, limit.requests_per_day_max)
        if all(value is None for value in (*counts, limit.amount_per_day_max)):
            raise InvalidValueError(f"the limit of {limit.processing_code} sets nothing")
        if any(value is not None and not 1 <= value <= REQUESTS_MAX for value in counts):
            raise InvalidValueError(f"requests per hour or day are 1 to {REQUESTS_MAX}")
        if limit.amount_per_day_max is not None and \
                not 1 <= limit.amount_per_day_max <= AMOUNT_MAX:
            raise InvalidValueError(f"an amount per day is 1 to {AMOUNT_MAX}")
    if growth is not None:
        if not MULTIPLE_MIN <= growth.warning_multiple < growth.block_multiple <= MULTIPLE_MAX:
            raise InvalidValueError(f"growth multiples: {MULTIPLE_MIN} <= warning < block <="
                                    f" {MULTIPLE_MAX}")
        if not 1 <= growth.floor_points <= FLOOR_POINTS_MAX:
            raise InvalidValueError(f"the growth floor is 1 to {FLOOR_POINTS_MAX} points")


async def set_settings(
    conn: asyncpg.Connection, alliance_code: str, limits: list[VelocityLimit],
    growth: GrowthLevels | None,
) -> RiskSettings:
    """A new version: these limits (none: no velocity limits) and levels (None: no growth
    checks), in force from the host's next batch."""
    check_settings(limits, growth)
    async with conn.transaction():
        alliance = await alliance_id(conn, alliance_code)
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('risk_settings'), $1)",
                           alliance)
        before = await _newest(conn, alliance, alliance_code)
        version = 1 if before is None else before.version + 1
        await conn.execute(
            "INSERT INTO risk_settings (alliance_id, version, growth_warning_multiple,"
            " growth_block_multiple, growth_floor_points) VALUES ($1, $2, $3, $4, $5)",
            alliance, version, *((growth.warning_multiple, growth.block_multiple,
                                  growth.floor_points) if growth else (None, None, None)))
        await conn.executemany(
            "INSERT INTO risk_limits (alliance_id, version, processing_code,"
            " requests_per_hour_max, requests_per_day_max, amount_per_day_max)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [(alliance, version, limit.processing_code, limit.requests_per_hour_max,
              limit.requests_per_day_max, limit.amount_per_day_max) for limit in limits])
        after = await _newest(conn, alliance, alliance_code)
        assert after is not None
        await record(conn, "risk.settings", "alliance", alliance_code,
                     before=None if before is None else _audited(before),
                     after=_audited(after))
        await notify_change(conn, Change(Table.RISK_SETTINGS))
    return after


async def settings_in_force(
    conn: asyncpg.Connection, alliance_code: str,
) -> RiskSettings | None:
    """The newest version (None: the alliance has none: no limits, no growth checks)."""
    async with conn.transaction(readonly=True):
        return await _newest(conn, await alliance_id(conn, alliance_code), alliance_code)


async def _newest(
    conn: asyncpg.Connection, alliance: int, alliance_code: str,
) -> RiskSettings | None:
    row = await conn.fetchrow(
        "SELECT version, growth_warning_multiple, growth_block_multiple, growth_floor_points,"
        " created_by, created_at FROM risk_settings WHERE alliance_id = $1"
        " ORDER BY version DESC LIMIT 1", alliance)
    if row is None:
        return None
    limits = [VelocityLimit(*limit) for limit in await conn.fetch(
        "SELECT processing_code, requests_per_hour_max, requests_per_day_max,"
        " amount_per_day_max FROM risk_limits WHERE alliance_id = $1 AND version = $2"
        " ORDER BY processing_code", alliance, row["version"])]
    growth = None if row["growth_warning_multiple"] is None else GrowthLevels(
        row["growth_warning_multiple"], row["growth_block_multiple"],
        row["growth_floor_points"])
    return RiskSettings(alliance_code, row["version"], limits, growth, row["created_by"],
                        row["created_at"])


def _audited(settings: RiskSettings) -> dict[str, object]:
    """As `jifen risk set-limits` spells them: CODE:PER_HOUR:PER_DAY:AMOUNT, WARNING:BLOCK:FLOOR."""
    growth = settings.growth
    return {"version": settings.version,
            "limits": [":".join("-" if value is None else str(value)
                                for value in msgspec.structs.astuple(limit))
                       for limit in settings.limits],
            "growth": None if growth is None else
            f"{growth.warning_multiple}:{growth.block_multiple}:{growth.floor_points}"}
