"""Pending commands, read on the change listener's connection (never the writer's): one query
per notification, with everything the writer needs to decide each without a round trip."""

from __future__ import annotations

import asyncpg

from account_host.commands.item import Command
from proto.host_commands import (
    GIFT_KINDS,
    IMPORT_KINDS,
    SWEEP_KINDS,
    CommandKind,
    InvalidCommand,
    decode_gift_payload,
    decode_payload,
    decode_sweep_payload,
)
from proto.purchase_imports import InvalidPurchase, decode_purchase

# Commands read at once; the rest on the next round (the listener reads again until none).
# A merchant's file brings 10^5 at once: a page of a thousand is one query of a few tens of
# milliseconds, and the writer's queue (bounded) holds the listener back while it is full.
COMMANDS_PER_READ = 1_000

# The pending commands whose card this host owns (its card ranges, as loading.py's cards) or
# whose gift it keeps (gift_catalogue.host_name), in the order they were made. `approved`: the
# host's own check of maker-checker; for a transfer's credit or void, of this partition's copy
# of the transfer's debit (done 00 with the same payload; for a void, the credit refused), and
# `carried` what that debit took. A command with an outcome of this host's is decided
# whatever host_commands says: the outcome is written with the command's postings, and the
# row's state is folded from it (migration 030), behind it once partitions replicate it.
_PENDING_SELECT = """
SELECT h.id, h.kind, h.payload::text AS payload, h.card_id, h.other_card_id,
       h.gift_alliance_id, h.gift_code, h.import_merchant_id, h.import_line_id,
       CASE WHEN h.transfer_step IN ('credit', 'void')
            THEN coalesce(debit.state = 'done' AND debit.result_code = '00'
                          AND debit.payload = h.payload
                          AND (h.transfer_step = 'credit' OR credit.state = 'refused'), false)
            WHEN h.kind = 'referral_credit'
            THEN EXISTS (SELECT 1 FROM referral_credits r
                         WHERE r.transaction_id = h.referral_transaction_id
                           AND r.referrer_card_id = h.card_id
                           AND r.points = (h.payload->>'points')::bigint)
            ELSE coalesce(a.state = 'approved' AND a.decided_by IS NOT NULL
                          AND a.decided_by <> a.requested_by
                          AND a.action = CASE h.kind WHEN 'transit_debit'
                                                     THEN 'points_transfer' ELSE h.kind END
                          AND a.payload = h.payload, false)
       END AS approved,
       h.transfer_id, debit.carried,
       c.pan_hmac AS card_hmac, c.status AS card_status, c.alliance_id AS card_alliance_id,
       o.pan_hmac AS other_hmac, o.status AS other_status, o.alliance_id AS other_alliance_id
FROM host_commands h
LEFT JOIN cards c ON c.id = h.card_id
LEFT JOIN cards o ON o.id = h.other_card_id
LEFT JOIN approval_requests a ON a.id = h.approval_id
LEFT JOIN host_commands debit
       ON debit.transfer_id = h.transfer_id AND debit.transfer_step = 'debit'
      AND h.transfer_step IN ('credit', 'void')
LEFT JOIN host_commands credit
       ON credit.transfer_id = h.transfer_id AND credit.transfer_step = 'credit'
      AND h.transfer_step = 'void'
LEFT JOIN gift_catalogue g
       ON g.alliance_id = h.gift_alliance_id AND g.gift_code = h.gift_code
LEFT JOIN LATERAL range_owner(c.pan_masked) AS r ON true
WHERE h.state = 'pending' AND {which}
  AND (g.host_name = $1 OR r.host_name = $1)
  AND NOT EXISTS (SELECT 1 FROM command_outcomes d WHERE d.command_id = h.id)
ORDER BY h.id
"""
_PENDING_SQL = _PENDING_SELECT.format(which="h.id > $3") + "LIMIT $2\n"
_PENDING_OF_SQL = _PENDING_SELECT.format(which="h.id = ANY($2::bigint[])")
# The ids alone of pending commands (the partial index host_commands_pending), whoever's: a
# listener that reads again skips at this price those it queued already.
_PENDING_IDS_SQL = """
SELECT id FROM host_commands WHERE state = 'pending' AND id > $1 ORDER BY id LIMIT $2
"""
# Ids read at once: an index-only page of a few milliseconds.
PENDING_IDS_PER_READ = 10_000


# A sweep's cards (a few hundred): their PAN hashes, by which the host holds them.
_SWEEP_CARDS_SQL = "SELECT id, pan_hmac FROM cards WHERE id = ANY($1::bigint[]) ORDER BY id"


async def pending_ids(
    connection: asyncpg.Connection, *, above_id: int = 0, limit: int = PENDING_IDS_PER_READ,
) -> list[int]:
    """The ids of pending commands above `above_id`, in order (any host's)."""
    return [row[0] for row in await connection.fetch(_PENDING_IDS_SQL, above_id, limit)]


async def read_pending(
    connection: asyncpg.Connection, host_name: str, *, above_id: int = 0,
    limit: int = COMMANDS_PER_READ, ids: list[int] | None = None,
) -> list[Command]:
    """The pending commands of this host above `above_id` (`limit` of them), or those of
    `ids` (at most COMMANDS_PER_READ) that are this host's and still pending."""
    if ids is None:
        rows = await connection.fetch(_PENDING_SQL, host_name, limit, above_id)
    else:
        assert len(ids) <= COMMANDS_PER_READ
        rows = await connection.fetch(_PENDING_OF_SQL, host_name, ids)
    commands = []
    for row in rows:
        kind = CommandKind(row["kind"])   # the table's constraint holds the kinds
        if kind in SWEEP_KINDS:
            commands.append(await _sweep_command(connection, row, kind))
        else:
            commands.append(_command(row, kind))
    return commands


async def _sweep_command(
    connection: asyncpg.Connection, row: asyncpg.Record, kind: CommandKind,
) -> Command:
    sweep, invalid = None, None
    cards: tuple[tuple[int, bytes], ...] = ()
    try:
        sweep = decode_sweep_payload(kind, row["payload"])
        if sweep.card_ids[0] != row["card_id"]:
            raise InvalidCommand("the row's card is not the sweep's first")
    except InvalidCommand as exc:
        sweep, invalid = None, str(exc)[:200]
    if sweep is not None:
        cards = tuple((card_id, pan_hmac) for card_id, pan_hmac
                      in await connection.fetch(_SWEEP_CARDS_SQL, list(sweep.card_ids)))
    return Command(row["id"], kind, None, invalid, row["approved"], row["card_hmac"],
                   row["card_status"], sweep=sweep, sweep_cards=cards)


def _command(row: asyncpg.Record, kind: CommandKind) -> Command:
    if kind in GIFT_KINDS:
        return _gift_command(row, kind)
    if kind in IMPORT_KINDS:
        return _purchase_command(row, kind)
    payload, invalid = None, None
    try:
        payload = decode_payload(kind, row["payload"])
        cards: tuple[int | None, int | None] = (payload.card_id, payload.other_card_id)
        if kind is CommandKind.TRANSIT_CREDIT:   # the credit acts on the taker
            cards = (payload.other_card_id, payload.card_id)
        if cards != (row["card_id"], row["other_card_id"]):
            raise InvalidCommand("the payload names other cards than the row")
    except InvalidCommand as exc:
        payload, invalid = None, str(exc)[:200]
    return Command(row["id"], kind, payload, invalid, row["approved"], row["card_hmac"],
                   row["card_status"], row["other_hmac"], row["other_status"],
                   transfer_id=row["transfer_id"], carried=row["carried"],
                   card_alliance_id=row["card_alliance_id"],
                   other_alliance_id=row["other_alliance_id"])


def _gift_command(row: asyncpg.Record, kind: CommandKind) -> Command:
    gift, invalid = None, None
    try:
        gift = decode_gift_payload(kind, row["payload"])
        if (gift.alliance_id, gift.gift_code) != (row["gift_alliance_id"], row["gift_code"]):
            raise InvalidCommand("the payload names another gift than the row")
    except InvalidCommand as exc:
        gift, invalid = None, str(exc)[:200]
    return Command(row["id"], kind, None, invalid, row["approved"], b"", "", gift=gift)


def _purchase_command(row: asyncpg.Record, kind: CommandKind) -> Command:
    purchase, invalid = None, None
    try:
        purchase = decode_purchase(row["payload"])
        if (purchase.card_id, purchase.merchant_id, purchase.line_id) != (
                row["card_id"], row["import_merchant_id"], row["import_line_id"]):
            raise InvalidPurchase("the payload names another card or line than the row")
    except InvalidPurchase as exc:
        purchase, invalid = None, str(exc)[:200]
    return Command(row["id"], kind, None, invalid, row["approved"], row["card_hmac"],
                   row["card_status"], purchase=purchase)


def named_cards(commands: list[Command]) -> list[int]:
    """The cards `commands` name, which the listener loads (and queues) before them."""
    ids = set()
    for command in commands:
        if command.payload is not None:
            ids.add(command.payload.card_id)
            if command.payload.other_card_id is not None:
                ids.add(command.payload.other_card_id)
        elif command.purchase is not None:
            ids.add(command.purchase.card_id)
    return sorted(ids)
