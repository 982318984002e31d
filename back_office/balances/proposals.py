"""What an operator asks, checked against the cards as they stand, so that a request a second
operator will read is one the host can carry out; the host checks everything again when it
applies the command (balances may have moved meanwhile)."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from back_office.balances.commands import submit_command
from back_office.members.one_partition import check_member_leaves_partition
from back_office.provisioning.errors import ConflictError, InvalidValueError, NotFoundError
from back_office.transit.starting import split_partitions, start_transfer
from proto.host_commands import CommandKind, CommandPayload, InvalidCommand, check_payload
from proto.keys import pan_hmac
from proto.pan import mask_pan


class Proposal(msgspec.Struct, frozen=True):
    """An approval request's action (a command kind), subject and payload."""

    action: str
    subject: str
    payload: dict[str, Any]


# A card with its balances as last committed (the host's memory may be a batch ahead), and its
# partition. Its balances are in its partition's database: NULL here when that is not central's
# (the checks that need them are then the host's alone: docs/transfers.md).
_CARD_SQL = """
SELECT c.id, c.status, c.pan_masked, c.alliance_id, c.member_id, a.points_transfer_allowed,
       r.host_name AS partition,
       CASE WHEN here.is_central THEN coalesce((SELECT balance FROM accounts
                 WHERE kind = 'member_points' AND card_id = c.id), 0) END AS points,
       CASE WHEN here.is_central THEN coalesce((SELECT balance FROM accounts
                 WHERE kind = 'member_stored_value' AND card_id = c.id), 0) END AS fen
FROM cards c JOIN alliances a ON a.id = c.alliance_id
LEFT JOIN LATERAL range_owner(c.pan_masked) AS r ON true
CROSS JOIN LATERAL (SELECT r.host_name IS NULL OR r.host_name = (
                        SELECT name FROM partitions WHERE number = 0) AS is_central) AS here
WHERE c.pan_hmac = $1
"""


async def _card(conn: asyncpg.Connection, lookup_key: bytes, pan: str) -> asyncpg.Record:
    if not pan.isdigit():
        raise InvalidValueError("the card number must be digits only")
    row = await conn.fetchrow(_CARD_SQL, pan_hmac(lookup_key, pan))
    if row is None:
        raise NotFoundError(f"no card {mask_pan(pan)} is issued")
    if row["status"] == "closed":
        raise ConflictError(f"card {row['pan_masked']} is closed")
    return row


def _proposal(kind: CommandKind, subject: str, payload: CommandPayload) -> Proposal:
    try:
        check_payload(kind, payload)
    except InvalidCommand as exc:
        raise InvalidValueError(str(exc)) from exc
    return Proposal(kind.value, subject, msgspec.to_builtins(payload))


async def propose_adjustment(
    conn: asyncpg.Connection, lookup_key: bytes, pan: str, *, points: int = 0,
    stored_value_fen: int = 0, reason: str,
) -> Proposal:
    """Points or fen in (positive) or out (negative), against the alliance's account."""
    if (points != 0) == (stored_value_fen != 0):
        raise InvalidValueError("adjust either points or stored value, by a non-zero amount")
    card = await _card(conn, lookup_key, pan)
    kind = (CommandKind.POINTS_ADJUSTMENT if points else CommandKind.STORED_VALUE_ADJUSTMENT)
    balance, amount, unit = ((card["points"], points, "points") if points
                             else (card["fen"], stored_value_fen, "fen"))
    if balance is not None and balance + amount < 0:
        raise ConflictError(f"card {card['pan_masked']} has {balance} {unit}: {amount} would"
                            " take it below zero")
    return _proposal(kind, f"card {card['pan_masked']}", CommandPayload(
        card["id"], reason, points=points, stored_value_fen=stored_value_fen))


async def propose_transfer(
    conn: asyncpg.Connection, lookup_key: bytes, from_pan: str, to_pan: str, points: int,
    reason: str,
) -> Proposal:
    """Points from one member's card to another's, in an alliance that allows it."""
    giver = await _card(conn, lookup_key, from_pan)
    taker = await _card(conn, lookup_key, to_pan)
    if giver["id"] == taker["id"]:
        raise InvalidValueError("a transfer goes to another card")
    if giver["alliance_id"] != taker["alliance_id"]:
        raise ConflictError("the two cards are of different alliances")
    if not giver["points_transfer_allowed"]:
        raise ConflictError("the alliance does not allow transfers of points (`jifen alliance"
                            " update --points-transfer allowed`)")
    for card in (giver, taker):
        if card["status"] != "active":
            raise ConflictError(f"card {card['pan_masked']} is {card['status']}, not active")
    if giver["points"] is not None and points > giver["points"]:
        raise ConflictError(f"card {giver['pan_masked']} has {giver['points']} points, fewer"
                            f" than {points}")
    return _proposal(CommandKind.POINTS_TRANSFER,
                     f"card {giver['pan_masked']} to {taker['pan_masked']}",
                     CommandPayload(giver["id"], reason, other_card_id=taker["id"],
                                    points=points))


async def propose_closure(
    conn: asyncpg.Connection, lookup_key: bytes, pan: str, reason: str,
) -> Proposal:
    """Stored value paid out to the member, points forfeited, the card closed for good."""
    card = await _card(conn, lookup_key, pan)
    balances = (f"{card['fen']} fen, {card['points']} points" if card["points"] is not None
                else f"balances in partition {card['partition']}")
    return _proposal(CommandKind.CARD_CLOSURE, f"card {card['pan_masked']} ({balances})",
                     CommandPayload(card["id"], reason))


class Replacement(msgspec.Struct, frozen=True):
    """What a replacement became: a command to the one host that holds both cards, or a
    transfer between two partitions (docs/transfers.md)."""

    command_id: int | None = None
    transfer_id: int | None = None


async def replace_card(
    conn: asyncpg.Connection, lookup_key: bytes, old_pan: str, new_pan: str, reason: str,
) -> Replacement:
    """The command that moves every balance to `new_pan` and closes `old_pan`, or, when the
    new card is in another partition's range, the transfer that does it in steps (with the
    member's tier standing); the new card goes to the old one's member. Not a request: card
    service replaces a lost card at the counter, and nothing leaves the member."""
    async with conn.transaction():
        old = await _card(conn, lookup_key, old_pan)
        new = await _card(conn, lookup_key, new_pan)
        if old["id"] == new["id"]:
            raise InvalidValueError("the new card differs from the old one")
        if old["alliance_id"] != new["alliance_id"]:
            raise ConflictError("the two cards are of different alliances")
        if new["status"] not in ("active", "inactive"):
            raise ConflictError(f"the new card {new['pan_masked']} is {new['status']}: take"
                                " an active card or one newly sold (inactive)")
        if new["points"] or new["fen"]:
            raise ConflictError(f"the new card {new['pan_masked']} has balances of its own")
        if new["member_id"] is not None and new["member_id"] != old["member_id"]:
            raise ConflictError(f"the new card {new['pan_masked']} is another member's")
        payload = CommandPayload(old["id"], reason, other_card_id=new["id"])
        split = await split_partitions(conn, payload)
        if split is not None and old["member_id"] is not None:
            await check_member_leaves_partition(conn, old["member_id"], old["id"], new["id"])
        if old["member_id"] is not None and new["member_id"] is None:
            await conn.execute("UPDATE cards SET member_id = $2 WHERE id = $1", new["id"],
                               old["member_id"])
        subject = f"{old['pan_masked']} by {new['pan_masked']}"
        if split is not None:
            return Replacement(transfer_id=await start_transfer(
                conn, CommandKind.CARD_REPLACEMENT, payload, split, subject, None))
        return Replacement(command_id=await submit_command(
            conn, CommandKind.CARD_REPLACEMENT, payload, subject))
