"""A member's notification preferences (docs/back-office.md, "Notification preferences"): the
kinds they opted out of (proto/notifications.py). The sender skips an event of such a kind and
records it skipped; every other kind is sent. Each change writes the audit trail."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning.errors import InvalidValueError, NotFoundError
from proto.notifications import NotificationKind


class NotificationPreferences(msgspec.Struct, frozen=True):
    member_id: int
    opted_out: list[str]   # kinds not sent, in the kinds' order
    sent: list[str]        # the others


def _kinds(names: Sequence[str]) -> set[NotificationKind]:
    try:
        return {NotificationKind(name) for name in names}
    except ValueError as exc:
        known = ", ".join(kind.value for kind in NotificationKind)
        raise InvalidValueError(f"{exc}: the kinds are {known}") from exc


def _preferences(member_id: int, opted_out: set[str]) -> NotificationPreferences:
    return NotificationPreferences(
        member_id, [kind.value for kind in NotificationKind if kind in opted_out],
        [kind.value for kind in NotificationKind if kind not in opted_out])


async def _opted_out(conn: asyncpg.Connection, member_id: int) -> set[str]:
    if not await conn.fetchval("SELECT true FROM members WHERE id = $1", member_id):
        raise NotFoundError(f"no member {member_id}")
    rows = await conn.fetch("SELECT kind FROM member_notification_opt_outs"
                            " WHERE member_id = $1", member_id)
    return {row["kind"] for row in rows}


async def show_preferences(conn: asyncpg.Connection, member_id: int) -> NotificationPreferences:
    async with conn.transaction(readonly=True):
        return _preferences(member_id, await _opted_out(conn, member_id))


async def set_preferences(
    conn: asyncpg.Connection, member_id: int, *, opt_out: Sequence[str] = (),
    opt_in: Sequence[str] = (),
) -> NotificationPreferences:
    """Opt the member out of `opt_out` and back into `opt_in` (a kind in both is refused)."""
    leaving, returning = _kinds(opt_out), _kinds(opt_in)
    if leaving & returning:
        raise InvalidValueError(f"{', '.join(sorted(leaving & returning))}: both opted out and"
                                " in")
    async with conn.transaction():
        before = await _opted_out(conn, member_id)
        await conn.execute(
            "INSERT INTO member_notification_opt_outs (member_id, kind)"
            " SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
            member_id, sorted(leaving))
        await conn.execute(
            "DELETE FROM member_notification_opt_outs WHERE member_id = $1"
            " AND kind = ANY($2::text[])", member_id, sorted(returning))
        after = (before | {kind.value for kind in leaving}) - {kind.value for kind in returning}
        if after != before:
            await record(conn, "member.notifications", "member", str(member_id),
                         before={"opted_out": sorted(before)},
                         after={"opted_out": sorted(after)})
    return _preferences(member_id, after)
