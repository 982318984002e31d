"""The nightly tier review (docs/rules.md, "Tiers"): the back office finds the holders whose
tier's year ended before the date (tier_standings.tier_until, which the host writes with each
standing) and asks their host, in sweep commands of a few hundred cards (a member by one of its
cards), to decide their tiers again. The host decides from its own standings: a holder found
here that is not due changes nothing, and a second run finds nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.balances.commands import CommandOutcome, wait_for_outcome
from back_office.provisioning.alliances import alliance_id
from back_office.provisioning.errors import InvalidValueError
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table
from proto.host_commands import (
    SWEEP_CARDS_MAX,
    CommandKind,
    SweepPayload,
    check_sweep_payload,
    encode_payload,
)

# The due holders, each by a card (a member's first), with the host that holds it.
_DUE_SQL = """
SELECT r.host_name, c.id
FROM tier_standings s
JOIN cards c ON c.id = coalesce(s.card_id, (SELECT min(m.id) FROM cards m
                                           WHERE m.member_id = s.member_id))
JOIN card_ranges r
  ON left(c.pan_masked, length(r.bin_low)) COLLATE "C" BETWEEN r.bin_low AND r.bin_high
WHERE s.alliance_id = $1 AND s.tier_until < $2
ORDER BY r.host_name, c.id
"""


class TierReviewRun(msgspec.Struct, frozen=True):
    alliance_code: str
    through: date                    # tiers whose year ended before it
    holders: int                     # holders found due
    commands: list[CommandOutcome]   # as they stood when the wait ended


async def submit_tier_review(
    conn: asyncpg.Connection, alliance_code: str, through: date | None,
) -> tuple[str, date, int, list[int]]:
    """The sweep commands for the alliance's due holders (none: nothing due), written with
    their audit row and announced in one transaction: (alliance, through, holders, ids)."""
    async with conn.transaction():
        alliance = await alliance_id(conn, alliance_code)
        timezone = await conn.fetchval("SELECT timezone FROM alliances WHERE id = $1",
                                       alliance)
        today = datetime.now(UTC).astimezone(ZoneInfo(timezone)).date()
        if through is None:
            through = today
        elif through > today:
            raise InvalidValueError(
                f"--date {through} is after today ({today}) in the alliance's time zone:"
                " a tier is reviewed only once its year has ended")
        by_host: dict[str, list[int]] = {}
        for host_name, card_id in await conn.fetch(_DUE_SQL, alliance, through):
            by_host.setdefault(host_name, []).append(card_id)
        command_ids = []
        reason = f"tier review through {through}"
        for card_ids in by_host.values():
            for start in range(0, len(card_ids), SWEEP_CARDS_MAX):
                chunk = tuple(card_ids[start:start + SWEEP_CARDS_MAX])
                payload = SweepPayload(alliance, through, chunk, reason)
                check_sweep_payload(CommandKind.TIER_REVIEW, payload)
                command_ids.append(await conn.fetchval(
                    "INSERT INTO host_commands (kind, payload, card_id)"
                    " VALUES ($1, $2::jsonb, $3) RETURNING id",
                    CommandKind.TIER_REVIEW.value, encode_payload(payload), chunk[0]))
        holders = sum(len(card_ids) for card_ids in by_host.values())
        await record(conn, "rules.review_tiers", "alliance", alliance_code, after={
            "through": through.isoformat(), "holders": holders, "commands": command_ids})
        if command_ids:
            await notify_change(conn, Change(Table.HOST_COMMANDS))
    return alliance_code, through, holders, command_ids


async def review_tiers(
    conn: asyncpg.Connection, alliance_code: str, through: date | None, timeout_s: float,
) -> TierReviewRun:
    """Submit the alliance's tier review and wait (at most `timeout_s` in all) for the host."""
    code, day, holders, command_ids = await submit_tier_review(conn, alliance_code, through)
    deadline = datetime.now(UTC).timestamp() + timeout_s
    outcomes = []
    for command_id in command_ids:
        left_s = max(0.0, deadline - datetime.now(UTC).timestamp())
        outcomes.append(await wait_for_outcome(conn, command_id, left_s))
    return TierReviewRun(code, day, holders, outcomes)
