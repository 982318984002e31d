"""The demo programme's loyalty side, so that a fresh `jifen up` shows what an alliance buys:
merchant categories and an earn rule document in force from today (docs/rules.md) with four
tiers, two gifts in stock, and a lottery campaign."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg

from back_office.gifts.catalogue import add_gift
from back_office.lottery.campaigns import create_campaign
from back_office.provisioning.merchants import update_merchant
from back_office.rules.earn_rules import set_rules
from proto.earn_rules import (
    Birthday,
    Bonuses,
    Caps,
    EarnRules,
    Multiplier,
    Rate,
    Rates,
    SpendThreshold,
    Window,
)
from proto.lottery import Prize, PrizeKind, PrizeTable
from proto.tiers import Tier, Tiers

# merchant code -> its category
DEMO_CATEGORIES = {"DEMO00000000001": "tea", "DEMO00000000002": "books",
                   "DEMO00000000003": "bakery"}
DEMO_EARN_RULES = EarnRules(
    rates=Rates(categories={"tea": Rate(1), "books": Rate(2), "bakery": Rate(1)}),
    promotions=(
        Multiplier("WEEKEND", 200, Window(weekdays=(6, 7))),
        SpendThreshold("BIGBASKET", 30_000, Rate(3)),
        Birthday("HAPPYDAY", 300),
    ),
    caps=Caps(per_transaction=5_000, per_day=20_000),
    bonuses=Bonuses(join=100, referral=200),
    tiers=Tiers((Tier("SILVER", 0), Tier("GOLD", 200_000, 125), Tier("PLATINUM", 1_000_000, 150),
                 Tier("DIAMOND", 5_000_000, 200))),
)
# (code, name, points, first stock)
DEMO_GIFTS = (("TEASET", "Celadon tea set", 500, 20), ("MUG", "Demo mug", 300, 50))
DEMO_LOTTERY_CODE = "DEMOLUCK"
DEMO_LOTTERY_PRICE = 50
DEMO_LOTTERY = PrizeTable((
    Prize("JACKPOT", PrizeKind.POINTS, 10_000, points=1_000, stock=10),
    Prize("MUG", PrizeKind.GIFT, 50_000, gift_code="MUG"),
    Prize("SMALL", PrizeKind.POINTS, 200_000, points=60),
))


async def create_demo_loyalty(conn: asyncpg.Connection, alliance_code: str) -> list[str]:
    """What it created, a line each for a person."""
    for merchant_code, category in DEMO_CATEGORIES.items():
        await update_merchant(conn, merchant_code, category=category)
    timezone = await conn.fetchval("SELECT timezone FROM alliances WHERE code = $1",
                                   alliance_code)
    today = datetime.now(UTC).astimezone(ZoneInfo(timezone)).date()
    await set_rules(conn, alliance_code, today, DEMO_EARN_RULES)
    for code, name, points, stock in DEMO_GIFTS:
        await add_gift(conn, alliance_code, code, name, points, stock)
    await create_campaign(conn, alliance_code, DEMO_LOTTERY_CODE, DEMO_LOTTERY_PRICE,
                          DEMO_LOTTERY)
    return [
        "earn rules in force (`jifen rules show --alliance DEMO`): categories tea, books and"
        " bakery, double points at weekends, 3 a yuan from 300 yuan, x3 on a member's"
        " birthday, caps, join and referral bonuses, tiers SILVER to DIAMOND by spend (GOLD"
        " from 2,000 yuan in 12 months; TR in every approval) (docs/rules.md)",
        "gifts " + ", ".join(f"{code} ({points} points)" for code, _, points, _ in DEMO_GIFTS)
        + f"; lottery {DEMO_LOTTERY_CODE}, {DEMO_LOTTERY_PRICE} points a draw"
          " (`jifen term ... lottery --amount 50`)",
    ]
