"""Back-office changes of balances, as frames to the account host.

The host is the only writer of balances, so the back office never posts: it writes a command
row (table host_commands, migration 018) holding one of these payloads as JSON, and announces
it (`proto.changes`, table host_commands) in the same transaction. The host reads pending
commands, applies each in a group commit like a terminal's request, and writes its outcome into
the row in that commit's statement: a command is carried out once, or refused with a reason.

A kind that needs a second operator is applied only when its row names an approved request
(approval_requests) for the same action and payload, decided by someone other than its maker:
the host checks that itself rather than trust whoever wrote the row.

The gift kinds (migration 021) name a gift instead of a card, with a GiftPayload: the host is
the only writer of a gift's stock, as of balances, so a restock or a withdrawal is a command
too, decided in a group commit and written in its statement.

An imported purchase (migration 036) carries a proto.purchase_imports.PurchasePayload: a line
of a merchant's period-end file, posted by the host as an advice of the merchant's.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import TypeVar

import msgspec


class CommandKind(StrEnum):
    POINTS_ADJUSTMENT = "points_adjustment"              # points in or out, against the alliance
    STORED_VALUE_ADJUSTMENT = "stored_value_adjustment"  # fen in or out, against the alliance
    POINTS_TRANSFER = "points_transfer"                  # points from one card to another
    CARD_REPLACEMENT = "card_replacement"                # every balance to a new card; old closed
    CARD_CLOSURE = "card_closure"                        # stored value paid out, points forfeited
    JOIN_BONUS = "join_bonus"                            # the earn rules' points for joining
    GIFT_RESTOCK = "gift_restock"                        # a gift's stock up by a quantity
    GIFT_WITHDRAWAL = "gift_withdrawal"                  # a gift no longer redeemed (05)
    POINTS_EXPIRY = "points_expiry"                      # expired lots of cards to breakage
    TIER_REVIEW = "tier_review"                          # tiers whose year ended, decided again
    IMPORTED_PURCHASE = "imported_purchase"              # a line of a merchant's file (0220)
    # A transfer between partitions' steps (proto/transit.py): each decided by one host.
    TRANSIT_DEBIT = "transit_debit"                      # the giver's points to in-transit
    TRANSIT_CREDIT = "transit_credit"                    # from in-transit to the taker
    TRANSIT_VOID = "transit_void"                        # back to the giver (credit refused)
    # A referral bonus owed by another partition's purchase (migration 042): checked by the
    # host against its copy of the referral credit, not an approval.
    REFERRAL_CREDIT = "referral_credit"


# Maker-checker: these are carried out only under an approved request of the same action.
NEEDS_APPROVAL = frozenset({
    CommandKind.POINTS_ADJUSTMENT, CommandKind.STORED_VALUE_ADJUSTMENT,
    CommandKind.POINTS_TRANSFER, CommandKind.CARD_CLOSURE,
})
# Those that name a gift (gift_alliance_id, gift_code) instead of a card: GiftPayload.
GIFT_KINDS = frozenset({CommandKind.GIFT_RESTOCK, CommandKind.GIFT_WITHDRAWAL})
# Those that name a second card (other_card_id): the receiving card, or the new one.
TWO_CARDS = frozenset({CommandKind.POINTS_TRANSFER, CommandKind.CARD_REPLACEMENT})
# Those that sweep a chunk of an alliance's cards (SweepPayload): the nightly jobs.
SWEEP_KINDS = frozenset({CommandKind.POINTS_EXPIRY, CommandKind.TIER_REVIEW})
# Those that carry a purchase of a merchant's file (proto.purchase_imports.PurchasePayload).
IMPORT_KINDS = frozenset({CommandKind.IMPORTED_PURCHASE})
# A transfer's steps (transfer_id, transfer_step on the row): each carries the transfer's payload
# unchanged (a points transfer's, as approved: points > 0; a replacement's: no amounts, every
# balance); the debit and the void act on its card_id, the credit on its other_card_id. The
# credit and the void are checked by the host against the debit's own row, not an approval.
TRANSIT_KINDS = frozenset({
    CommandKind.TRANSIT_DEBIT, CommandKind.TRANSIT_CREDIT, CommandKind.TRANSIT_VOID})
# Cards in one sweep command: its postings go into one group commit with terminals' requests,
# so a few hundred keep that commit a few milliseconds longer, not seconds.
SWEEP_CARDS_MAX = 500
# A reason is kept with every command; the audit trail and statements show it.
REASON_LENGTH_MAX = 200
# Whole points or fen moved by one command: far above any card's balance, far below int64.
AMOUNT_MAX = 10**12
# Gifts added by one restock: a warehouse's delivery, far below what a bigint holds.
RESTOCK_QUANTITY_MAX = 10**9


class CommandPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a command asks: ids and amounts, never a card number (every approver reads it).
    Amounts are signed for adjustments (in or out of the card), positive for a transfer, and
    0 where the kind takes the whole balance (replacement, closure)."""

    card_id: int
    reason: str
    other_card_id: int | None = None
    points: int = 0
    stored_value_fen: int = 0


class GiftPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A gift command: which gift (the row's gift_alliance_id and gift_code), how many more
    (a restock; 0 for a withdrawal), and why."""

    alliance_id: int
    gift_code: str
    reason: str
    quantity: int = 0


class SweepPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A nightly job's chunk: these cards of the alliance, as of `through` (a points expiry
    books the points of every lot whose last day is before it; a tier review decides again
    the tiers of the cards' holders whose year ended before it). The row's card_id is the
    first card, which routes the command to the host that holds the chunk's cards."""

    alliance_id: int
    through: date
    card_ids: tuple[int, ...]
    reason: str


class InvalidCommand(ValueError):
    """A payload that no kind accepts (the message says why)."""


def check_payload(kind: CommandKind, payload: CommandPayload) -> None:
    """The shape each kind needs, checked where a command is made and where it is applied."""
    if not payload.reason.strip() or len(payload.reason) > REASON_LENGTH_MAX:
        raise InvalidCommand(f"a reason of 1 to {REASON_LENGTH_MAX} characters")
    if payload.card_id <= 0:
        raise InvalidCommand("card_id is positive")
    two_cards = kind in TWO_CARDS or kind in TRANSIT_KINDS
    if (payload.other_card_id is not None) != two_cards:
        raise InvalidCommand(f"{kind} names {'two cards' if two_cards else 'one card'}")
    if payload.other_card_id is not None and payload.other_card_id in (payload.card_id, 0):
        raise InvalidCommand("the second card differs from the first")
    if abs(payload.points) > AMOUNT_MAX or abs(payload.stored_value_fen) > AMOUNT_MAX:
        raise InvalidCommand(f"at most {AMOUNT_MAX} points or fen")
    moves = (payload.points != 0, payload.stored_value_fen != 0)
    if kind is CommandKind.POINTS_ADJUSTMENT and moves != (True, False):
        raise InvalidCommand("a points adjustment moves points (not 0), no stored value")
    if kind is CommandKind.STORED_VALUE_ADJUSTMENT and moves != (False, True):
        raise InvalidCommand("a stored-value adjustment moves fen (not 0), no points")
    if kind is CommandKind.POINTS_TRANSFER and (payload.points <= 0 or moves[1]):
        raise InvalidCommand("a transfer moves a positive number of points")
    if kind in TRANSIT_KINDS and (payload.points < 0 or moves[1]):
        raise InvalidCommand("a transfer's step moves a positive number of points (a"
                             " transfer's) or none (a replacement's: every balance)")
    if kind in (CommandKind.CARD_REPLACEMENT, CommandKind.CARD_CLOSURE) and any(moves):
        raise InvalidCommand(f"a {kind} takes the whole balances: no amounts")
    if kind is CommandKind.REFERRAL_CREDIT and moves != (True, False):
        raise InvalidCommand("a referral credit gives points (not 0), no stored value")
    if kind is CommandKind.JOIN_BONUS and any(moves):
        raise InvalidCommand("a join bonus is what the earn rules in force give: no amounts")


def check_sweep_payload(kind: CommandKind, payload: SweepPayload) -> None:
    assert kind in SWEEP_KINDS, kind
    if not payload.reason.strip() or len(payload.reason) > REASON_LENGTH_MAX:
        raise InvalidCommand(f"a reason of 1 to {REASON_LENGTH_MAX} characters")
    if payload.alliance_id <= 0:
        raise InvalidCommand("a sweep names its alliance")
    if not 0 < len(payload.card_ids) <= SWEEP_CARDS_MAX:
        raise InvalidCommand(f"a sweep names 1 to {SWEEP_CARDS_MAX} cards")
    if any(card_id <= 0 for card_id in payload.card_ids) \
            or len(set(payload.card_ids)) != len(payload.card_ids):
        raise InvalidCommand("a sweep's cards are distinct card ids")


def decode_sweep_payload(kind: CommandKind, text: str | bytes) -> SweepPayload:
    """InvalidCommand for a sweep payload that does not decode or does not fit its kind."""
    payload = _decoded(text, SweepPayload)
    check_sweep_payload(kind, payload)
    return payload


def check_gift_payload(kind: CommandKind, payload: GiftPayload) -> None:
    assert kind in GIFT_KINDS, kind
    if not payload.reason.strip() or len(payload.reason) > REASON_LENGTH_MAX:
        raise InvalidCommand(f"a reason of 1 to {REASON_LENGTH_MAX} characters")
    if payload.alliance_id <= 0 or not payload.gift_code:
        raise InvalidCommand("a gift is named by its alliance and code")
    if kind is CommandKind.GIFT_RESTOCK and not 0 < payload.quantity <= RESTOCK_QUANTITY_MAX:
        raise InvalidCommand(f"a restock adds 1 to {RESTOCK_QUANTITY_MAX} gifts")
    if kind is CommandKind.GIFT_WITHDRAWAL and payload.quantity != 0:
        raise InvalidCommand("a withdrawal takes no quantity")


_ENCODER = msgspec.json.Encoder()


def encode_payload(payload: CommandPayload | GiftPayload | SweepPayload) -> str:
    """The JSON the row (and the approval request) holds."""
    return _ENCODER.encode(payload).decode()


def decode_payload(kind: CommandKind, text: str | bytes) -> CommandPayload:
    """InvalidCommand for a payload that does not decode or does not fit its kind."""
    payload = _decoded(text, CommandPayload)
    check_payload(kind, payload)
    return payload


def decode_gift_payload(kind: CommandKind, text: str | bytes) -> GiftPayload:
    """InvalidCommand for a gift payload that does not decode or does not fit its kind."""
    payload = _decoded(text, GiftPayload)
    check_gift_payload(kind, payload)
    return payload


_Payload = TypeVar("_Payload", CommandPayload, GiftPayload, SweepPayload)


def _decoded(text: str | bytes, payload_type: type[_Payload]) -> _Payload:
    try:
        return msgspec.json.decode(text, type=payload_type)
    except msgspec.DecodeError as exc:   # malformed, or the wrong shape
        raise InvalidCommand(f"the payload does not decode: {exc}") from exc
