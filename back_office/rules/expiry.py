"""The nightly expiry of points (docs/rules.md, "Expiring points"): the back office finds the
cards whose soonest lot lasted only until before the date (accounts.lots_expire_first, which
the host writes with the lots) and asks their host, in sweep commands of a few hundred cards,
to book what expired to the alliance's breakage account. The host decides from its own lots:
a card found here with nothing due by then books nothing, and a second run finds nothing."""

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

# The cards with lots due, with the host that holds each (its card range), in card order.
_DUE_SQL = """
SELECT r.host_name, a.card_id
FROM accounts a
JOIN cards c ON c.id = a.card_id
JOIN card_ranges r
  ON left(c.pan_masked, length(r.bin_low)) COLLATE "C" BETWEEN r.bin_low AND r.bin_high
WHERE a.kind = 'member_points' AND a.lots_expire_first < $2 AND c.alliance_id = $1
ORDER BY r.host_name, a.card_id
"""


class ExpiryRun(msgspec.Struct, frozen=True):
    alliance_code: str
    through: date                    # lots whose last day is before it
    cards: int                       # cards found with lots due
    commands: list[CommandOutcome]   # as they stood when the wait ended


async def submit_expiry(
    conn: asyncpg.Connection, alliance_code: str, through: date | None,
) -> tuple[str, date, int, list[int]]:
    """The sweep commands for the alliance's due cards (none: nothing due), written with their
    audit row and announced in one transaction: (alliance, through, cards, command ids)."""
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
                " points expire only once their last day has passed")
        by_host: dict[str, list[int]] = {}
        for host_name, card_id in await conn.fetch(_DUE_SQL, alliance, through):
            by_host.setdefault(host_name, []).append(card_id)
        command_ids = []
        reason = f"points expiry through {through}"
        for card_ids in by_host.values():
            for start in range(0, len(card_ids), SWEEP_CARDS_MAX):
                chunk = tuple(card_ids[start:start + SWEEP_CARDS_MAX])
                payload = SweepPayload(alliance, through, chunk, reason)
                check_sweep_payload(CommandKind.POINTS_EXPIRY, payload)
                command_ids.append(await conn.fetchval(
                    "INSERT INTO host_commands (kind, payload, card_id)"
                    " VALUES ($1, $2::jsonb, $3) RETURNING id",
                    CommandKind.POINTS_EXPIRY.value, encode_payload(payload), chunk[0]))
        cards = sum(len(card_ids) for card_ids in by_host.values())
        await record(conn, "rules.expire", "alliance", alliance_code, after={
            "through": through.isoformat(), "cards": cards, "commands": command_ids})
        if command_ids:
            await notify_change(conn, Change(Table.HOST_COMMANDS))
    return alliance_code, through, cards, command_ids


async def expire_points(
    conn: asyncpg.Connection, alliance_code: str, through: date | None, timeout_s: float,
) -> ExpiryRun:
    """Submit the alliance's expiry and wait (at most `timeout_s` in all) for the host."""
    code, day, cards, command_ids = await submit_expiry(conn, alliance_code, through)
    deadline = datetime.now(UTC).timestamp() + timeout_s
    outcomes = []
    for command_id in command_ids:
        left_s = max(0.0, deadline - datetime.now(UTC).timestamp())
        outcomes.append(await wait_for_outcome(conn, command_id, left_s))
    return ExpiryRun(code, day, cards, outcomes)
