"""A realistic rule set for the load test (`jifen loadtest --rules realistic`): 200 merchants
in 10 categories, each with a base rate, 20 promotions (multipliers running now and not,
alliance-wide and per merchant, spend thresholds), caps per purchase, day and month, and 4
tiers by spend, so that every purchase goes through every step of docs/rules.md, the day's and
month's counters and its holder's tier standing (counted, and written) included, and points
that expire (12 months: every purchase makes or grows a lot), and risk settings (velocity
limits on purchases and growth levels, far above a run's traffic: checked and counted on every
purchase, never declining one). `--rules none` (the default) removes the load test alliance's
rules from today on, and its risk settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from back_office.provisioning import create_merchant
from back_office.provisioning.merchants import update_merchant
from back_office.risk import GrowthLevels, VelocityLimit, set_settings, settings_in_force
from back_office.rules import set_rules
from loadtest.provision import ALLIANCE_CODE, EARN_POINTS_PER_YUAN, merchant_code
from proto.earn_rules import (
    Caps,
    EarnRules,
    Expiry,
    Multiplier,
    Rate,
    Rates,
    SpendThreshold,
    Window,
)
from proto.tiers import Tier, Tiers

RULE_SETS = ("none", "realistic")
MERCHANTS = 200
CATEGORIES = 10
PROMOTIONS = 20
# Caps far above what one card earns in a run: they are checked on every purchase, and the
# points stay what the run's results expect (every purchase earns).
CAP_PER_TRANSACTION = 1_000_000
CAP_PER_DAY = 10**8
CAP_PER_MONTH = 10**9
# Four tiers by spend, the upper ones within reach of a run's busiest cards (so upgrades happen).
TIERS = Tiers((Tier("SILVER", 0), Tier("GOLD", 500_000, 110), Tier("PLATINUM", 2_000_000, 125),
               Tier("DIAMOND", 10_000_000, 150)))

# Velocity limits and growth levels no run reaches (a card purchases a few times a minute at
# most; the floor is above any card's or merchant's day), so that every purchase is checked
# and counted (account_host/risk/) and none is declined or reviewed.
RISK_LIMITS = [VelocityLimit("000000", 60_000, 60_000, 4_000_000_000)]
RISK_GROWTH = GrowthLevels(5, 10, 10**9)


def realistic_rules(today: datetime) -> EarnRules:
    """The document: built here rather than read from a file, so it stays valid as the
    merchants are numbered."""
    categories = {f"category{n}": Rate(1 + n % 3, (1, 10, 1)[n % 3]) for n in range(CATEGORIES)}
    merchants = {merchant_code(n): Rate(1 + n % 5) for n in range(1, MERCHANTS + 1, 7)}
    weekday = today.isoweekday()
    promotions: list[Multiplier | SpendThreshold] = []
    for n in range(PROMOTIONS):
        running = n % 2 == 0
        window = Window(weekdays=(weekday,) if running else (weekday % 7 + 1,),
                        hours=(0, 24) if n % 4 else None)
        scope = () if n % 5 == 0 else tuple(merchant_code(1 + (n * 11 + k) % MERCHANTS)
                                            for k in range(3))
        if n % 3 == 2:
            promotions.append(SpendThreshold(f"THRESHOLD{n}", 50_000 + n * 1_000,
                                             Rate(2 + n % 3), window, scope))
        else:
            promotions.append(Multiplier(f"MULTIPLY{n}", 110 + n * 10, window, scope))
    return EarnRules(Rates(Rate(EARN_POINTS_PER_YUAN), categories, merchants),
                     tuple(promotions),
                     Caps(CAP_PER_TRANSACTION, CAP_PER_DAY, CAP_PER_MONTH),
                     expiry=Expiry(months=12),   # every purchase makes or grows a lot
                     tiers=TIERS)


async def ensure_rules(database_url: str, rule_set: str) -> None:
    """The load test alliance's rules from today: the realistic set, or none."""
    assert rule_set in RULE_SETS, rule_set
    connection = await asyncpg.connect(database_url)
    try:
        timezone = await connection.fetchval(
            "SELECT timezone FROM alliances WHERE code = $1", ALLIANCE_CODE)
        today = datetime.now(UTC).astimezone(ZoneInfo(timezone))
        if rule_set == "none":
            await _no_rules(connection, today)
            risk = await settings_in_force(connection, ALLIANCE_CODE)
            if risk is not None and (risk.limits or risk.growth is not None):
                await set_settings(connection, ALLIANCE_CODE, [], None)
            return
        risk = await settings_in_force(connection, ALLIANCE_CODE)
        if risk is None or risk.limits != RISK_LIMITS or risk.growth != RISK_GROWTH:
            await set_settings(connection, ALLIANCE_CODE, RISK_LIMITS, RISK_GROWTH)
        await _ensure_merchants(connection)
        # Tomorrow's version would wait a day; today's may already be in force: a version from
        # today is set only if none is, else the one in force stays (the same document).
        in_force = await connection.fetchval(
            "SELECT count(*) FROM earn_rule_sets r JOIN alliances a ON a.id = r.alliance_id"
            " WHERE a.code = $1 AND r.replaced_by IS NULL AND r.effective_from = $2",
            ALLIANCE_CODE, today.date())
        if not in_force:
            await set_rules(connection, ALLIANCE_CODE, today.date(), realistic_rules(today))
    finally:
        await connection.close()


async def _no_rules(connection: asyncpg.Connection, today: datetime) -> None:
    """From tomorrow no rules; today's version, if any, stays until midnight (a version in
    force is never replaced): a run after `--rules realistic` on the same day keeps them."""
    rows = await connection.fetchval(
        "SELECT count(*) FROM earn_rule_sets r JOIN alliances a ON a.id = r.alliance_id"
        " WHERE a.code = $1 AND r.replaced_by IS NULL AND r.effective_from <= $2",
        ALLIANCE_CODE, today.date())
    if rows:
        await set_rules(connection, ALLIANCE_CODE, today.date() + timedelta(days=1),
                        EarnRules())


async def _ensure_merchants(connection: asyncpg.Connection) -> None:
    existing = set(await connection.fetchval(
        "SELECT coalesce(array_agg(merchant_code), '{}') FROM merchants"
        " WHERE merchant_code = ANY($1::text[])",
        [merchant_code(n) for n in range(1, MERCHANTS + 1)]))
    for number in range(1, MERCHANTS + 1):
        code = merchant_code(number)
        if code not in existing:
            await create_merchant(connection, ALLIANCE_CODE, code, f"Load test shop {number}",
                                  EARN_POINTS_PER_YUAN)
        await update_merchant(connection, code, category=f"category{number % CATEGORIES}")
