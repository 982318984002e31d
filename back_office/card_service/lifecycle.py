"""A card's status as an explicit state machine: named steps, the statuses each may start from,
and an error naming the card's status for any other.

    inactive --activate--> active
    active   --lost------> lost     (41)      lost, stolen --found---> active
    active   --stolen----> stolen   (43)      blocked      --unblock-> active
    active   --block-----> blocked  (05)
    closed: nothing leaves it (a replaced card, or one closed and refunded)

Expiry (54) is the card's date, not a status: `expire` sets it to yesterday and `renew` to a
new month's end; both keep the card's balances (they live in its accounts, untouched here) and
its status. A closed card is neither expired nor renewed.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning.cards import parse_expiry
from back_office.provisioning.errors import ConflictError, InvalidValueError, NotFoundError
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table
from proto.keys import pan_hmac
from proto.notifications import NotificationKind
from proto.pan import mask_pan


class CardStep(enum.StrEnum):
    ACTIVATE = "activate"
    LOST = "lost"
    STOLEN = "stolen"
    FOUND = "found"
    BLOCK = "block"
    UNBLOCK = "unblock"


# step -> (statuses it starts from, the status it ends in)
TRANSITIONS: dict[CardStep, tuple[frozenset[str], str]] = {
    CardStep.ACTIVATE: (frozenset({"inactive"}), "active"),
    CardStep.LOST: (frozenset({"active"}), "lost"),
    CardStep.STOLEN: (frozenset({"active", "lost"}), "stolen"),
    CardStep.FOUND: (frozenset({"lost", "stolen"}), "active"),
    CardStep.BLOCK: (frozenset({"active"}), "blocked"),
    CardStep.UNBLOCK: (frozenset({"blocked"}), "active"),
}


# The statuses a member is notified of (the host derives the same from its own status rows).
BLOCKED_STATUSES = frozenset({"blocked", "lost", "stolen"})


class CardChange(msgspec.Struct, frozen=True):
    card_id: int
    pan_masked: str
    status_before: str
    status: str
    expires_on_before: str
    expires_on: str


async def change_card(
    conn: asyncpg.Connection, lookup_key: bytes, pan: str, step: CardStep,
) -> CardChange:
    """One step of the card's life; ConflictError names the card's status when the step does
    not start from it (a lost card is not blocked, an active one is not activated)."""
    async with conn.transaction():
        row = await _card_for_update(conn, lookup_key, pan)
        return await _step(conn, row, step)


async def change_card_by_id(conn: asyncpg.Connection, card_id: int, step: CardStep) -> CardChange:
    """As `change_card`, for a card named by its id (an approved request's payload)."""
    async with conn.transaction():
        row = await conn.fetchrow("SELECT id, status, expires_on, pan_masked FROM cards"
                                  " WHERE id = $1 FOR UPDATE", card_id)
        if row is None:
            raise NotFoundError(f"no card with id {card_id}")
        return await _step(conn, row, step)


async def card_of(conn: asyncpg.Connection, lookup_key: bytes, pan: str) -> asyncpg.Record:
    """The card's id, status and masked number (a request names a card by these)."""
    return await _card_for_update(conn, lookup_key, pan)


async def _step(conn: asyncpg.Connection, row: asyncpg.Record, step: CardStep) -> CardChange:
    starts_from, ends_in = TRANSITIONS[step]
    if row["status"] not in starts_from:
        raise ConflictError(
            f"card {row['pan_masked']} is {row['status']}: `{step}` applies to a card that is"
            f" {' or '.join(sorted(starts_from))}")
    await conn.execute("UPDATE cards SET status = $2 WHERE id = $1", row["id"], ends_in)
    if ends_in in BLOCKED_STATUSES:   # the member is told, in this same transaction
        await conn.execute(
            "INSERT INTO notification_outbox (kind, card_id, status, created_at)"
            " VALUES ($1, $2, $3, now())", NotificationKind.CARD_BLOCKED, row["id"], ends_in)
    await record(conn, f"card.{step}", "card", row["pan_masked"],
                 before={"status": row["status"]}, after={"status": ends_in})
    await notify_change(conn, Change(Table.CARDS, row["id"]))
    return _change(row, status=ends_in)


async def expire_card(conn: asyncpg.Connection, lookup_key: bytes, pan: str) -> CardChange:
    """From now on the card is declined 54; its balances stay (renew brings them back)."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    return await _set_expiry(conn, lookup_key, pan, yesterday, "card.expire")


async def renew_card(
    conn: asyncpg.Connection, lookup_key: bytes, pan: str, expiry: str | None = None,
) -> CardChange:
    """A new expiry (YYYY-MM; default the usual validity from today), balances kept."""
    expires_on = parse_expiry(expiry)
    if expires_on <= datetime.now(UTC).date():
        raise InvalidValueError("a renewed card expires after today")
    return await _set_expiry(conn, lookup_key, pan, expires_on, "card.renew")


async def _set_expiry(
    conn: asyncpg.Connection, lookup_key: bytes, pan: str, expires_on: date, action: str,
) -> CardChange:
    async with conn.transaction():
        row = await _card_for_update(conn, lookup_key, pan)
        if row["status"] == "closed":
            raise ConflictError(f"card {row['pan_masked']} is closed: it neither expires nor"
                                " renews")
        await conn.execute("UPDATE cards SET expires_on = $2 WHERE id = $1", row["id"],
                           expires_on)
        await record(conn, action, "card", row["pan_masked"],
                     before={"expires_on": row["expires_on"]}, after={"expires_on": expires_on})
        await notify_change(conn, Change(Table.CARDS, row["id"]))
    return _change(row, expires_on=expires_on)


async def _card_for_update(
    conn: asyncpg.Connection, lookup_key: bytes, pan: str,
) -> asyncpg.Record:
    if not pan.isdigit():
        raise InvalidValueError("the card number must be digits only")
    row = await conn.fetchrow("SELECT id, status, expires_on, pan_masked FROM cards"
                              " WHERE pan_hmac = $1 FOR UPDATE", pan_hmac(lookup_key, pan))
    if row is None:
        raise NotFoundError(f"no card {mask_pan(pan)} is issued")
    return row


def _change(
    row: asyncpg.Record, *, status: str | None = None, expires_on: date | None = None,
) -> CardChange:
    return CardChange(row["id"], row["pan_masked"], row["status"], status or row["status"],
                      row["expires_on"].isoformat(),
                      (expires_on or row["expires_on"]).isoformat())
