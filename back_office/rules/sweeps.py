"""The nightly jobs that go through the account host as sweep commands (the expiry of points,
the tier review): find the alliance's due cards in the database, as of a local date no later
than today, and send them to the host that holds each (its card range) in commands of at most
SWEEP_CARDS_MAX cards, written with one audit row and announced in one transaction; then wait
for the host's outcomes. The host decides each card from its own state, so a card found here
that is not due changes nothing, and a second run finds nothing."""

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


class Sweep(msgspec.Struct, frozen=True):
    """One nightly job: its command kind, and how it finds and names what is due."""

    kind: CommandKind
    # (host name, card id) of the due cards, in host then card order; $1 the alliance's id,
    # $2 the date they are due before.
    due_sql: str
    reason: str           # the commands' reason, before " through DATE"
    audit_action: str
    found_key: str        # what the audit row calls the cards found ("cards", "holders")
    too_early: str        # why a later date than today is refused


class SweepRun(msgspec.Struct, frozen=True):
    alliance_code: str
    through: date                    # due before it
    found: int                       # cards found due
    commands: list[CommandOutcome]   # as they stood when the wait ended


async def submit_sweep(
    conn: asyncpg.Connection, sweep: Sweep, alliance_code: str, through: date | None,
) -> tuple[date, int, list[int]]:
    """The sweep commands for the alliance's due cards (none: nothing due): (through, cards
    found, command ids)."""
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
                f" {sweep.too_early}")
        by_host: dict[str, list[int]] = {}
        for host_name, card_id in await conn.fetch(sweep.due_sql, alliance, through):
            by_host.setdefault(host_name, []).append(card_id)
        command_ids = []
        reason = f"{sweep.reason} through {through}"
        for card_ids in by_host.values():
            for start in range(0, len(card_ids), SWEEP_CARDS_MAX):
                chunk = tuple(card_ids[start:start + SWEEP_CARDS_MAX])
                payload = SweepPayload(alliance, through, chunk, reason)
                check_sweep_payload(sweep.kind, payload)
                command_ids.append(await conn.fetchval(
                    "INSERT INTO host_commands (kind, payload, card_id)"
                    " VALUES ($1, $2::jsonb, $3) RETURNING id",
                    sweep.kind.value, encode_payload(payload), chunk[0]))
        found = sum(len(card_ids) for card_ids in by_host.values())
        await record(conn, sweep.audit_action, "alliance", alliance_code, after={
            "through": through.isoformat(), sweep.found_key: found, "commands": command_ids})
        if command_ids:
            await notify_change(conn, Change(Table.HOST_COMMANDS))
    return through, found, command_ids


async def run_sweep(
    conn: asyncpg.Connection, sweep: Sweep, alliance_code: str, through: date | None,
    timeout_s: float,
) -> SweepRun:
    """Submit the alliance's sweep and wait (at most `timeout_s` in all) for the host."""
    day, found, command_ids = await submit_sweep(conn, sweep, alliance_code, through)
    deadline = datetime.now(UTC).timestamp() + timeout_s
    outcomes = []
    for command_id in command_ids:
        left_s = max(0.0, deadline - datetime.now(UTC).timestamp())
        outcomes.append(await wait_for_outcome(conn, command_id, left_s))
    return SweepRun(alliance_code, day, found, outcomes)
