"""Tag XP of an approved 0110 (host interface 1.2, §4 "Tier and expiry"): the soonest lot's last
day and points, when that day is within the alliance's warning window."""

from __future__ import annotations

from datetime import date

from account_host.card_store import Card
from account_host.context import ApplyContext
from account_host.expiry.lots import soonest

EXPIRY_TAG = "XP"


def expiry_warning(context: ApplyContext, card: Card) -> str | None:
    """XP's value (`YYYYMMDD` then the points, n12), or None: no lots, no expiry in the rules
    in force, or the soonest lot lasts beyond the window."""
    packed = context.state.lots.get(card.points_account_id)
    if not packed:
        return None
    earning = context.earning(card.alliance_id)
    if earning.warning_days is None:
        return None
    lot = soonest(packed)
    assert lot is not None
    day, points = lot
    if day - earning.local_day > earning.warning_days:
        return None
    return f"{date.fromordinal(day):%Y%m%d}{points:012d}"
