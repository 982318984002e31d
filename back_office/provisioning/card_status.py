"""Card status: an operator reports a card lost or stolen, blocks it, or makes it active again.

The host declines a lost card 41, a stolen one 43 and a blocked one 05; it hears of the change
through NOTIFY 'cards:<id>' and re-reads that one card.
"""

from __future__ import annotations

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning.errors import ConflictError, InvalidValueError, NotFoundError
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table
from proto.keys import Purpose, load_kek, open_data_keys, pan_hmac
from proto.pan import mask_pan

CARD_STATUSES = ("active", "lost", "stolen", "blocked")


class CardStatusChange(msgspec.Struct, frozen=True):
    card_id: int
    pan_masked: str
    status_before: str
    status: str


async def set_card_status(
    conn: asyncpg.Connection, pan: str, status: str, *, kek: bytes | None = None,
    unblock_allowed: bool = True,
) -> CardStatusChange:
    """The card is found by its PAN's HMAC (the pan_lookup key, opened with `kek`). Without
    `unblock_allowed` (an operator acting), a blocked card is not made active here: that is a
    request a second operator approves (`jifen card unblock`)."""
    if status not in CARD_STATUSES:
        raise InvalidValueError(f"status must be one of {', '.join(CARD_STATUSES)}")
    if not pan.isdigit():
        raise InvalidValueError("the card number must be digits only")
    async with conn.transaction():
        keys = await open_data_keys(conn, kek if kek is not None else load_kek(),
                                    [Purpose.PAN_LOOKUP])
        row = await conn.fetchrow(
            "SELECT id, status FROM cards WHERE pan_hmac = $1 FOR UPDATE",
            pan_hmac(keys[Purpose.PAN_LOOKUP], pan))
        if row is None:
            raise NotFoundError(f"no card {mask_pan(pan)} is issued")
        if row["status"] == "closed":
            raise ConflictError(f"card {mask_pan(pan)} is closed: nothing reopens it")
        if row["status"] == "blocked" and status != "blocked" and not unblock_allowed:
            raise ConflictError(f"card {mask_pan(pan)} is blocked: unblocking it is a request"
                                " a second operator approves (`jifen card unblock --pan ...`)")
        await conn.execute("UPDATE cards SET status = $2 WHERE id = $1", row["id"], status)
        await record(conn, "card.status", "card", mask_pan(pan),
                     before={"card_id": row["id"], "status": row["status"]},
                     after={"card_id": row["id"], "status": status})
        await notify_change(conn, Change(Table.CARDS, row["id"]))
    return CardStatusChange(row["id"], mask_pan(pan), row["status"], status)
