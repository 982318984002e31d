"""The nightly expiry of points (docs/rules.md, "Expiring points"): the cards whose soonest lot
lasted only until before the date (accounts.lots_expire_first, which the host writes with the
lots) go to their host in sweep commands (sweeps.py), which books what expired to the
alliance's breakage account. The host decides from its own lots: a card found here with
nothing due by then books nothing, and a second run finds nothing."""

from __future__ import annotations

from datetime import date

import asyncpg
import msgspec

from back_office.balances.commands import CommandOutcome
from back_office.rules.sweeps import Sweep, run_sweep
from proto.host_commands import CommandKind

# The cards with lots due, with the host that holds each (range_owner: its narrowest card
# range), in card order.
_DUE_SQL = """
SELECT r.host_name, a.card_id
FROM accounts a
JOIN cards c ON c.id = a.card_id
JOIN LATERAL range_owner(c.pan_masked) AS r ON true
WHERE a.kind = 'member_points' AND a.lots_expire_first < $2 AND c.alliance_id = $1
ORDER BY r.host_name, a.card_id
"""
EXPIRY = Sweep(CommandKind.POINTS_EXPIRY, _DUE_SQL, "points expiry", "rules.expire", "cards",
               "points expire only once their last day has passed")


class ExpiryRun(msgspec.Struct, frozen=True):
    alliance_code: str
    through: date                    # lots whose last day is before it
    cards: int                       # cards found with lots due
    commands: list[CommandOutcome]   # as they stood when the wait ended


async def expire_points(
    conn: asyncpg.Connection, alliance_code: str, through: date | None, timeout_s: float,
) -> ExpiryRun:
    """Submit the alliance's expiry and wait (at most `timeout_s` in all) for the host."""
    run = await run_sweep(conn, EXPIRY, alliance_code, through, timeout_s)
    return ExpiryRun(run.alliance_code, run.through, run.found, run.commands)
