"""A member's own data, whole and in clear, as JSON: the person's right to see what is kept.

The only place a mobile or ID number leaves its seal; the CLI writes it to a new 0600 file or
to standard output, never to a log.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.members.members import MemberCard, clear_personal_data, show_member
from back_office.members.personal_data import PersonalDataKeys


class MemberExport(msgspec.Struct, frozen=True):
    exported_at: str
    member_id: int
    alliance_code: str
    name: str
    mobile: str
    id_number: str | None
    birthday: str | None
    joined_on: str
    created_at: str
    updated_at: str
    cards: list[MemberCard]


async def export_member(
    conn: asyncpg.Connection, keys: PersonalDataKeys, member_id: int,
) -> MemberExport:
    async with conn.transaction(isolation="repeatable_read"):
        member = await show_member(conn, member_id)
        clear = await clear_personal_data(conn, keys, member_id)
        times = await conn.fetchrow("SELECT created_at, updated_at FROM members WHERE id = $1",
                                    member_id)
        # Who took a person's data out, and when: the trail keeps that, not the data.
        await record(conn, "member.export", "member", str(member_id))
    assert times is not None, "show_member found it in the same snapshot"
    return MemberExport(
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        member_id=member.member_id, alliance_code=member.alliance_code, name=member.name,
        mobile=clear["mobile"] or "", id_number=clear["id_number"], birthday=member.birthday,
        joined_on=member.joined_on, created_at=times["created_at"].isoformat(),
        updated_at=times["updated_at"].isoformat(), cards=member.cards)
