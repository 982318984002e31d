"""Members: create, change, show, list and find them; assign cards to them.

A member belongs to one alliance and has one or more cards (a card may have no member: sold
anonymous). The mobile and the ID number are sealed under keys derived from the member_data
data key (`personal_data`), so every function that writes or finds by them opens that key
with the KEK; showing and listing need no key (they show the masks).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.balances.join_bonus import offer_join_bonus
from back_office.members import validate
from back_office.members.one_partition import check_card_joins_member
from back_office.members.personal_data import (
    PersonalDataKeys,
    SealedField,
    lookup_digest,
    open_field,
    seal_field,
)
from back_office.members.tiers import TIER_SQL, TierShown, member_tier, tier_shown
from back_office.provisioning.alliances import alliance_id
from back_office.provisioning.errors import (
    ConflictError,
    DuplicateError,
    InvalidValueError,
    NotFoundError,
)
from back_office.provisioning.notify import notify_change
from back_office.queries.partitions import NO_OTHER_PARTITIONS, OtherPartitions, partition_fetch
from proto.changes import Change, Table
from proto.keys import Purpose, open_data_keys, pan_hmac
from proto.pan import mask_pan

MOBILE = "mobile"
ID_NUMBER = "id_number"
# One page of `jifen member list`.
LIST_LIMIT_MAX = 1_000


class MemberCard(msgspec.Struct, frozen=True):
    card_id: int
    pan_masked: str
    status: str
    expires_on: str
    points: int
    stored_value_fen: int


class Member(msgspec.Struct, frozen=True):
    member_id: int
    alliance_code: str
    name: str
    mobile_masked: str
    id_number_masked: str | None
    birthday: str | None
    joined_on: str
    cards: list[MemberCard] = []
    # Where the member has a tier standing (back_office/members/tiers.py): `show` only.
    tier: str | None = None
    tier_until: str | None = None
    tier_rolling_total: int | None = None


async def open_member_keys(conn: asyncpg.Connection, kek: bytes) -> PersonalDataKeys:
    keys = await open_data_keys(conn, kek, [Purpose.MEMBER_DATA])
    return PersonalDataKeys.derive(keys[Purpose.MEMBER_DATA])


async def create_member(
    conn: asyncpg.Connection, keys: PersonalDataKeys, alliance_code: str, name: str,
    mobile: str, *, id_number: str | None = None, birthday: str | None = None,
    joined_on: date | None = None, referred_by: int | None = None,
) -> Member:
    """A new member; `referred_by`: the member of the same alliance who referred them (their
    card gets the referral bonus at this member's first purchase: docs/rules.md)."""
    today = datetime.now(UTC).date()
    name = validate.name(name)
    mobile = validate.mobile(mobile)
    id_number = None if id_number is None else validate.id_number(id_number)
    born = None if birthday is None else validate.birthday(birthday, today)
    async with conn.transaction():
        alliance = await alliance_id(conn, alliance_code)
        if referred_by is not None and await conn.fetchval(
                "SELECT alliance_id FROM members WHERE id = $1", referred_by) != alliance:
            raise NotFoundError(f"no member {referred_by} in alliance {alliance_code} to have"
                                " referred them")
        sealed_mobile = seal_field(keys, MOBILE, alliance, mobile, validate.mask_mobile(mobile))
        sealed_id = None if id_number is None else seal_field(
            keys, ID_NUMBER, alliance, id_number, validate.mask_id_number(id_number))
        try:
            member_id = await conn.fetchval(
                "INSERT INTO members (alliance_id, name, mobile_hmac, mobile_sealed,"
                " mobile_masked, id_number_hmac, id_number_sealed, id_number_masked, birthday,"
                " joined_on, referred_by)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                alliance, name, sealed_mobile.digest, sealed_mobile.sealed, sealed_mobile.masked,
                *_id_columns(sealed_id), born, joined_on or today, referred_by)
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateError(_duplicate_message(exc, sealed_mobile.masked)) from exc
        member = await show_member(conn, member_id)
        await record(conn, "member.create", "member", str(member_id),
                     after={**_audited(member), "referred_by": referred_by})
    return member


async def update_member(
    conn: asyncpg.Connection, keys: PersonalDataKeys, member_id: int, *,
    name: str | None = None, mobile: str | None = None, id_number: str | None = None,
    birthday: str | None = None,
) -> tuple[Member, Member]:
    """(before, after). Only the fields given change."""
    if name is mobile is id_number is birthday is None:
        raise InvalidValueError("nothing to change: give --name, --mobile, --id-number or"
                                " --birthday")
    async with conn.transaction():
        before = await show_member(conn, member_id, for_update=True)
        alliance = await alliance_id(conn, before.alliance_code)
        changes: dict[str, object] = {}
        if name is not None:
            changes["name"] = validate.name(name)
        if mobile is not None:
            number = validate.mobile(mobile)
            sealed = seal_field(keys, MOBILE, alliance, number, validate.mask_mobile(number))
            changes |= {"mobile_hmac": sealed.digest, "mobile_sealed": sealed.sealed,
                        "mobile_masked": sealed.masked}
        if id_number is not None:
            number = validate.id_number(id_number)
            sealed = seal_field(keys, ID_NUMBER, alliance, number,
                                validate.mask_id_number(number))
            changes |= dict(zip(("id_number_hmac", "id_number_sealed", "id_number_masked"),
                                _id_columns(sealed), strict=True))
        if birthday is not None:
            changes["birthday"] = validate.birthday(birthday, datetime.now(UTC).date())
        assignments = ", ".join(f"{column} = ${n}" for n, column in enumerate(changes, 2))
        try:
            await conn.execute(
                f"UPDATE members SET {assignments}, updated_at = now() WHERE id = $1",
                member_id, *changes.values())
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateError(_duplicate_message(exc, before.mobile_masked)) from exc
        after = await show_member(conn, member_id)
        await record(conn, "member.update", "member", str(member_id),
                     before=_audited(before), after=_audited(after))
        if birthday is not None:   # the host keeps each card's member's birthday
            for card_id in await conn.fetchval(
                    "SELECT coalesce(array_agg(id), '{}') FROM cards WHERE member_id = $1",
                    member_id):
                await notify_change(conn, Change(Table.CARDS, card_id))
    return before, after


async def show_member(
    conn: asyncpg.Connection, member_id: int, *, for_update: bool = False,
    partitions: OtherPartitions = NO_OTHER_PARTITIONS,
) -> Member:
    """With `partitions`, the cards' balances and the tier read where they are: a partition's
    host writes its own cards' (central holds none of them)."""
    row = await conn.fetchrow(
        "SELECT m.id, a.code, m.name, m.mobile_masked, m.id_number_masked, m.birthday,"
        " m.joined_on FROM members m JOIN alliances a ON a.id = m.alliance_id"
        f" WHERE m.id = $1{' FOR UPDATE OF m' if for_update else ''}", member_id)
    if row is None:
        raise NotFoundError(f"no member {member_id}; `jifen member find` finds one")
    cards = await member_cards(conn, [member_id])
    shown = None if for_update else await member_tier(conn, member_id)
    if partitions.urls and cards:
        cards, elsewhere = await _from_partitions(partitions, cards, member_id)
        shown = shown or elsewhere
    member = _member(row, cards)
    if shown is None:
        return member
    return msgspec.structs.replace(member, tier=shown.tier, tier_until=shown.tier_until,
                                   tier_rolling_total=shown.rolling_total)


async def list_members(
    conn: asyncpg.Connection, alliance_code: str, *, limit: int = 100, after_id: int = 0,
) -> list[Member]:
    """One page in id order, from the member after `after_id`; without their cards."""
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise InvalidValueError(f"--limit is 1 to {LIST_LIMIT_MAX}")
    alliance = await alliance_id(conn, alliance_code)
    rows = await conn.fetch(
        "SELECT m.id, a.code, m.name, m.mobile_masked, m.id_number_masked, m.birthday,"
        " m.joined_on FROM members m JOIN alliances a ON a.id = m.alliance_id"
        " WHERE m.alliance_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3",
        alliance, after_id, limit)
    return [_member(row, []) for row in rows]


async def find_member(
    conn: asyncpg.Connection, keys: PersonalDataKeys, pan_lookup_key: bytes, *,
    mobile: str | None = None, pan: str | None = None,
    partitions: OtherPartitions = NO_OTHER_PARTITIONS,
) -> Member:
    """By mobile (in any alliance) or by one of the member's cards."""
    if (mobile is None) == (pan is None):
        raise InvalidValueError("find by exactly one of --mobile and --pan")
    if mobile is not None:
        number = validate.mobile(mobile)
        alliances = await conn.fetch("SELECT id FROM alliances")
        digests = [lookup_digest(keys, MOBILE, row["id"], number) for row in alliances]
        rows = await conn.fetch("SELECT id FROM members WHERE mobile_hmac = ANY($1::bytea[])",
                                digests)
        what = f"mobile {validate.mask_mobile(number)}"
    else:
        assert pan is not None
        rows = await conn.fetch("SELECT member_id AS id FROM cards WHERE pan_hmac = $1"
                                " AND member_id IS NOT NULL", pan_hmac(pan_lookup_key, pan))
        what = f"card {mask_pan(pan)}"
    if not rows:
        raise NotFoundError(f"no member has {what}")
    if len(rows) > 1:  # the same mobile in two alliances
        raise ConflictError(f"{len(rows)} members have {what}, one per alliance: members"
                            f" {', '.join(str(row['id']) for row in rows)}")
    return await show_member(conn, rows[0]["id"], partitions=partitions)


async def assign_card(
    conn: asyncpg.Connection, pan_lookup_key: bytes, pan: str, member_id: int,
) -> MemberCard:
    """Give an anonymous card (of the member's alliance) to the member."""
    async with conn.transaction():
        member = await conn.fetchrow("SELECT id, alliance_id FROM members WHERE id = $1",
                                     member_id)
        if member is None:
            raise NotFoundError(f"no member {member_id}")
        card = await conn.fetchrow(
            "SELECT id, alliance_id, member_id FROM cards WHERE pan_hmac = $1 FOR UPDATE",
            pan_hmac(pan_lookup_key, pan))
        if card is None:
            raise NotFoundError(f"no card {mask_pan(pan)} is issued")
        if card["alliance_id"] != member["alliance_id"]:
            raise ConflictError(f"card {mask_pan(pan)} is of another alliance than the member")
        if card["member_id"] not in (None, member_id):
            raise ConflictError(f"card {mask_pan(pan)} belongs to member {card['member_id']}")
        await check_card_joins_member(conn, member_id, card["id"])
        await conn.execute("UPDATE cards SET member_id = $2 WHERE id = $1", card["id"],
                           member_id)
        await record(conn, "member.assign_card", "card", mask_pan(pan),
                     before={"member_id": card["member_id"]}, after={"member_id": member_id})
        # The host reads the card again: its member's birthday (birthday promotions).
        await notify_change(conn, Change(Table.CARDS, card["id"]))
        await offer_join_bonus(conn, member_id, card["id"])
        [assigned] = await member_cards(conn, [member_id], card_id=card["id"])
    return assigned


# A member's cards' balances and its standing in a partition's database.
_BALANCES_SQL = """
SELECT card_id, sum(balance) FILTER (WHERE kind = 'member_points')::bigint AS points,
       sum(balance) FILTER (WHERE kind = 'member_stored_value')::bigint AS fen
FROM accounts WHERE card_id = ANY($1::bigint[]) GROUP BY card_id
"""


async def _from_partitions(
    partitions: OtherPartitions, cards: list[MemberCard], member_id: int,
) -> tuple[list[MemberCard], TierShown | None]:
    """The cards with every partition's balances added (a card's accounts are in one
    partition), and the member's standing where a partition holds one."""
    parts = await partition_fetch(partitions, [
        (_BALANCES_SQL, [[card.card_id for card in cards]]), (TIER_SQL, [member_id])])
    added: dict[int, tuple[int, int]] = {}
    shown = None
    for balances, tiers in parts.values():
        for row in balances:
            points, fen = added.get(row["card_id"], (0, 0))
            added[row["card_id"]] = (points + (row["points"] or 0), fen + (row["fen"] or 0))
        shown = shown or (tier_shown(tiers[0]) if tiers else None)
    cards = [msgspec.structs.replace(
        card, points=card.points + added.get(card.card_id, (0, 0))[0],
        stored_value_fen=card.stored_value_fen + added.get(card.card_id, (0, 0))[1])
        for card in cards]
    return cards, shown


async def member_cards(
    conn: asyncpg.Connection, member_ids: list[int], *, card_id: int | None = None,
) -> list[MemberCard]:
    rows = await conn.fetch(
        "SELECT c.id, c.pan_masked, c.status, c.expires_on,"
        " coalesce(sum(a.balance) FILTER (WHERE a.kind = 'member_points'), 0)::bigint AS points,"
        " coalesce(sum(a.balance) FILTER (WHERE a.kind = 'member_stored_value'), 0)::bigint"
        " AS fen"
        " FROM cards c LEFT JOIN accounts a ON a.card_id = c.id"
        " WHERE c.member_id = ANY($1::bigint[]) AND ($2::bigint IS NULL OR c.id = $2)"
        " GROUP BY c.id ORDER BY c.id", member_ids, card_id)
    return [MemberCard(row["id"], row["pan_masked"], row["status"],
                       row["expires_on"].isoformat(), row["points"], row["fen"])
            for row in rows]


async def clear_personal_data(
    conn: asyncpg.Connection, keys: PersonalDataKeys, member_id: int,
) -> dict[str, str | None]:
    """The member's mobile and ID number in clear: for the member's own export only."""
    row = await conn.fetchrow(
        "SELECT mobile_hmac, mobile_sealed, id_number_hmac, id_number_sealed FROM members"
        " WHERE id = $1", member_id)
    if row is None:
        raise NotFoundError(f"no member {member_id}")
    id_number = None if row["id_number_sealed"] is None else open_field(
        keys, ID_NUMBER, row["id_number_sealed"], row["id_number_hmac"])
    return {"mobile": open_field(keys, MOBILE, row["mobile_sealed"], row["mobile_hmac"]),
            "id_number": id_number}


def _id_columns(sealed: SealedField | None) -> tuple[bytes | None, bytes | None, str | None]:
    if sealed is None:
        return None, None, None
    return sealed.digest, sealed.sealed, sealed.masked


def _duplicate_message(exc: asyncpg.UniqueViolationError, mobile_masked: str) -> str:
    if "id_number" in (exc.constraint_name or ""):
        return "another member of the alliance has this ID number"
    return f"another member of the alliance has mobile {mobile_masked}"


def _audited(member: Member) -> dict[str, object]:
    """What the audit trail keeps of a member: masks only (no mobile or ID number)."""
    return {"name": member.name, "mobile_masked": member.mobile_masked,
            "id_number_masked": member.id_number_masked, "birthday": member.birthday,
            "alliance_code": member.alliance_code}


def _member(row: asyncpg.Record, cards: list[MemberCard]) -> Member:
    return Member(row["id"], row["code"], row["name"], row["mobile_masked"],
                  row["id_number_masked"],
                  None if row["birthday"] is None else row["birthday"].isoformat(),
                  row["joined_on"].isoformat(), cards)
