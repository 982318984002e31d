"""The nightly tier review (docs/rules.md, "Tiers"): the holders whose tier's year ended before
the date (tier_standings.tier_until, which the host writes with each standing) go to their
host in sweep commands (sweeps.py; a member by one of its cards), which decides their tiers
again. The host decides from its own standings: a holder found here that is not due changes
nothing, and a second run finds nothing."""

from __future__ import annotations

from datetime import date

import asyncpg
import msgspec

from back_office.balances.commands import CommandOutcome
from back_office.rules.sweeps import Sweep, run_sweep
from proto.host_commands import CommandKind

# The due holders, each by a card (a member's first), with the host that holds it
# (range_owner: its narrowest card range).
_DUE_SQL = """
SELECT r.host_name, c.id
FROM tier_standings s
JOIN cards c ON c.id = coalesce(s.card_id, (SELECT min(m.id) FROM cards m
                                           WHERE m.member_id = s.member_id))
JOIN LATERAL range_owner(c.pan_masked) AS r ON true
WHERE s.alliance_id = $1 AND s.tier_until < $2
ORDER BY r.host_name, c.id
"""
TIER_REVIEW = Sweep(CommandKind.TIER_REVIEW, _DUE_SQL, "tier review", "rules.review_tiers",
                    "holders", "a tier is reviewed only once its year has ended")


class TierReviewRun(msgspec.Struct, frozen=True):
    alliance_code: str
    through: date                    # tiers whose year ended before it
    holders: int                     # holders found due
    commands: list[CommandOutcome]   # as they stood when the wait ended


async def review_tiers(
    conn: asyncpg.Connection, alliance_code: str, through: date | None, timeout_s: float,
) -> TierReviewRun:
    """Submit the alliance's tier review and wait (at most `timeout_s` in all) for the host."""
    run = await run_sweep(conn, TIER_REVIEW, alliance_code, through, timeout_s)
    return TierReviewRun(run.alliance_code, run.through, run.found, run.commands)
