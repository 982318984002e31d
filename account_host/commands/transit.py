"""A transfer's steps between partitions, decided by this host, sans I/O (docs/transfers.md).

Two kinds, told apart by the payload: a points transfer (`points` > 0) and a card's replacement
by a card of another partition's range (no amounts: every balance).

The debit takes the giver's points (a replacement: every balance, and the old card closed) into
the alliance's in-transit accounts of this partition and carries what it took (proto/transit.py)
in its outcome; the credit, on the taker's host, takes them out of that host's in-transit
accounts (a replacement: with the holder's tier standing, and the new card activated); the
void, when the credit was refused, puts them back on the giver, closed or not (as a reversal
ignores status; a replaced card is reopened as it was). Each is one transaction that sums to
zero in its own partition.

The host checks each step itself: a transfer's debit against the approved request (as a
transfer on one host; a replacement, like one on one host, needs none), the credit and the void
against its own copy of the debit's row (decided 00, with the same payload; the void also
against the credit's, refused), and a transfer's amount against what the debit carried. Codes
as on one host: 12 not approved or a step that does not fit (a new card with balances of its
own), 14 a card this host does not hold, 05 a closed or blocked card (a new card not active or
newly sold), 51 too few points, 57 transfers not allowed, 61 a balance beyond field 54's digits.
"""

from __future__ import annotations

from collections.abc import Callable

from account_host.card_store import Card
from account_host.chart import MONEY_LEDGER, POINTS_LEDGER, AccountKind
from account_host.commands.item import Command
from account_host.commands.refusals import (
    CLOSED,
    NOT_PERMITTED,
    Refused,
    check_limit,
    close_card,
    held_card,
    new_transaction,
    open_card,
)
from account_host.context import ApplyContext
from account_host.expiry.keeping import record_lots
from account_host.expiry.lots import decode_moves, encode_moves
from account_host.state import CARD_STATUS_DECLINES
from account_host.tiers.holders import carry_in, standing_of
from proto.codes import CURRENCY_FEN, CURRENCY_POINTS, ResponseCode
from proto.host_commands import CommandKind, CommandPayload
from proto.transit import Carried, InvalidCarried, decode_carried, encode_carried

# result code, reason, transaction id (None: refused), what a debit carries (None: nothing)
Decision = tuple[str, str, int | None, bytes | None]
# A replacing card takes over only from these (sold, not yet activated; or active).
_REPLACING_STATUSES = frozenset({"active", "inactive"})

_NOT_CHECKED = {
    CommandKind.TRANSIT_DEBIT: "not approved by a second operator",
    CommandKind.TRANSIT_CREDIT: "the transfer's debit is not done in this partition's copy",
    CommandKind.TRANSIT_VOID: "the transfer's debit is not done, or its credit not refused,"
                              " in this partition's copy",
}


def decide_transit_step(context: ApplyContext, command: Command) -> Decision:
    payload = command.payload
    if payload is None:
        raise Refused(ResponseCode.INVALID_TRANSACTION, command.invalid or "invalid payload")
    if command.transfer_id is None:
        raise Refused(ResponseCode.INVALID_TRANSACTION, "a transfer's step names its transfer")
    replacement = payload.points == 0
    needs_check = not (replacement and command.kind is CommandKind.TRANSIT_DEBIT)
    if needs_check and not command.approved:
        raise Refused(ResponseCode.INVALID_TRANSACTION, _NOT_CHECKED[command.kind])
    if command.other_alliance_id is not None \
            and command.other_alliance_id != command.card_alliance_id:
        raise Refused(ResponseCode.INVALID_TRANSACTION,
                      "the two cards are of different alliances")
    steps = _REPLACEMENT_STEPS if replacement else _TRANSFER_STEPS
    return steps[command.kind](context, command, payload)


def _debit(context: ApplyContext, command: Command, payload: CommandPayload) -> Decision:
    card = open_card(context, command.card_hmac, payload.card_id, command.card_status)
    if not context.state.alliances[card.alliance_id].points_transfer_allowed:
        raise Refused(NOT_PERMITTED, "the alliance does not allow transfers of points")
    _check_may_transact(card)
    points = payload.points
    balance = context.state.balance(card.points_account_id)
    if balance < points:
        raise Refused(ResponseCode.INSUFFICIENT_FUNDS,
                      f"the card has {balance} points, fewer than {points}")
    transaction_id, day = new_transaction(context, card)
    giver = context.member_points_account(card)
    context.post(transaction_id, POINTS_LEDGER, day,
                 ((giver, -points), (_in_transit(context, card), points)))
    context.batch.add_command_transaction(
        transaction_id, CommandKind.TRANSIT_DEBIT, day, command.correlation_id, card_id=card.id,
        amount=points, currency=CURRENCY_POINTS, points=-points, stored_value_fen=0)
    moves = record_lots(context, transaction_id, giver, card.alliance_id)
    carried = Carried(points, lot_moves=encode_moves(moves) or b"")
    return (ResponseCode.APPROVED,
            f"{points} points in transit to card {payload.other_card_id}"
            f" (transfer {command.transfer_id})", transaction_id, encode_carried(carried))


def _credit(context: ApplyContext, command: Command, payload: CommandPayload) -> Decision:
    carried = _carried(command, payload)
    assert payload.other_card_id is not None   # check_payload: a transit step names two
    card = open_card(context, command.card_hmac, payload.other_card_id, command.card_status)
    _check_may_transact(card)
    check_limit(context, card.points_account_id, carried.points)
    transaction_id = _move_in(context, command, card, carried)
    return (ResponseCode.APPROVED,
            f"{carried.points} points from card {payload.card_id}"
            f" (transfer {command.transfer_id})", transaction_id, None)


def _void(context: ApplyContext, command: Command, payload: CommandPayload) -> Decision:
    """Back to the giver, whatever its status now (it may have been closed meanwhile)."""
    _card, carried, transaction_id = _back_on_giver(context, command, payload)
    return (ResponseCode.APPROVED,
            f"{carried.points} points back from transfer {command.transfer_id}",
            transaction_id, None)


def _debit_card(context: ApplyContext, command: Command, payload: CommandPayload) -> Decision:
    """A replacement's: every balance of the old card into in-transit, the old card closed."""
    card = open_card(context, command.card_hmac, payload.card_id, command.card_status)
    state = context.state
    points = state.balance(card.points_account_id)
    fen = state.balance(card.stored_value_account_id)
    transaction_id, day = new_transaction(context, card)
    if points:
        giver = context.member_points_account(card)
        context.post(transaction_id, POINTS_LEDGER, day,
                     ((giver, -points), (_in_transit(context, card), points)))
    if fen:
        context.post(transaction_id, MONEY_LEDGER, day, (
            (context.member_stored_value_account(card), -fen),
            (_in_transit(context, card, money=True), fen)))
    context.batch.add_command_transaction(
        transaction_id, CommandKind.TRANSIT_DEBIT, day, command.correlation_id, card_id=card.id,
        amount=fen, currency=CURRENCY_FEN, points=-points, stored_value_fen=-fen)
    moves = record_lots(context, transaction_id, giver, card.alliance_id) if points else ()
    carried = Carried(points, fen, encode_moves(moves) or b"",
                      standing_of(state, card) or b"", command.card_status)
    close_card(context, card, transaction_id)
    return (ResponseCode.APPROVED,
            f"{points} points and {fen} fen in transit to card {payload.other_card_id};"
            f" card {card.id} closed (transfer {command.transfer_id})", transaction_id,
            encode_carried(carried))


def _credit_card(context: ApplyContext, command: Command, payload: CommandPayload) -> Decision:
    """A replacement's: every balance onto the new card, with the holder's standing; the new
    card active."""
    carried = _carried(command, payload)
    assert payload.other_card_id is not None
    card = held_card(context, command.card_hmac, payload.other_card_id)
    if command.card_status not in _REPLACING_STATUSES or card.id in context.state.closed_cards:
        raise Refused(ResponseCode.DO_NOT_HONOUR,
                      f"the new card {card.id} is {command.card_status}: it takes over only"
                      " when active or newly sold (inactive)")
    state = context.state
    if state.balance(card.points_account_id) or state.balance(card.stored_value_account_id):
        raise Refused(ResponseCode.INVALID_TRANSACTION,
                      f"the new card {card.id} has balances of its own")
    transaction_id = _move_in(context, command, card, carried)
    if carried.standing:
        carry_in(context, card, carried.standing)
    if card.decline_code is not None:   # sold, not yet activated: it is the card now
        card.decline_code = None
        context.batch.set_card_status(card.id, "active", transaction_id)
    return (ResponseCode.APPROVED,
            f"{carried.points} points and {carried.stored_value_fen} fen from card"
            f" {payload.card_id} (transfer {command.transfer_id})", transaction_id, None)


def _void_card(context: ApplyContext, command: Command, payload: CommandPayload) -> Decision:
    """A replacement's: every balance back on the old card, reopened as it was before."""
    card, carried, transaction_id = _back_on_giver(context, command, payload)
    status = carried.status_before if carried.status_before in CARD_STATUS_DECLINES \
        and carried.status_before != CLOSED else "active"
    card.decline_code = CARD_STATUS_DECLINES[status]
    context.state.closed_cards.discard(card.id)
    context.batch.set_card_status(card.id, status, transaction_id)
    return (ResponseCode.APPROVED,
            f"{carried.points} points and {carried.stored_value_fen} fen back; card {card.id}"
            f" {status} again (transfer {command.transfer_id})", transaction_id, None)


def _back_on_giver(
    context: ApplyContext, command: Command, payload: CommandPayload,
) -> tuple[Card, Carried, int]:
    """A void's: what the debit carried, back on the giver (held here, closed or not); the
    card, what was carried, the void's transaction."""
    carried = _carried(command, payload)
    card = held_card(context, command.card_hmac, payload.card_id)
    check_limit(context, card.points_account_id, carried.points)
    return card, carried, _move_in(context, command, card, carried)


def _move_in(context: ApplyContext, command: Command, card: Card, carried: Carried) -> int:
    """What the debit carried, out of this partition's in-transit accounts onto `card` (the
    taker's, or the giver's again), the points keeping the last days they had; the step's
    transaction."""
    transaction_id, day = new_transaction(context, card)
    points, fen = carried.points, carried.stored_value_fen
    member = context.member_points_account(card)
    if points:
        context.post(transaction_id, POINTS_LEDGER, day,
                     ((_in_transit(context, card), -points), (member, points)))
    if fen:
        context.post(transaction_id, MONEY_LEDGER, day, (
            (_in_transit(context, card, money=True), -fen),
            (context.member_stored_value_account(card), fen)))
    context.batch.add_command_transaction(
        transaction_id, command.kind, day, command.correlation_id, card_id=card.id,
        amount=fen if fen else points, currency=CURRENCY_FEN if fen else CURRENCY_POINTS,
        points=points, stored_value_fen=fen)
    if points:
        record_lots(context, transaction_id, member, card.alliance_id,
                    undo=decode_moves(carried.lot_moves))
    return transaction_id


def _carried(command: Command, payload: CommandPayload) -> Carried:
    """What the debit took, as this partition's copy of its row holds it: for a points
    transfer, the amount the transfer names, never another."""
    if command.carried is None:
        raise Refused(ResponseCode.INVALID_TRANSACTION, "the transfer's debit carried nothing")
    try:
        carried = decode_carried(command.carried)
    except InvalidCarried as exc:
        raise Refused(ResponseCode.INVALID_TRANSACTION, str(exc)[:200]) from exc
    if payload.points and (carried.points != payload.points or carried.stored_value_fen
                           or carried.standing):
        raise Refused(ResponseCode.INVALID_TRANSACTION,
                      "the transfer's debit carried other amounts than it names")
    return carried


def _check_may_transact(card: Card) -> None:
    if card.decline_code is not None:
        raise Refused(ResponseCode.DO_NOT_HONOUR,
                      f"card {card.id} may not transact ({card.decline_code})")


def _in_transit(context: ApplyContext, card: Card, *, money: bool = False) -> int:
    kind = (AccountKind.ALLIANCE_STORED_VALUE_IN_TRANSIT if money
            else AccountKind.ALLIANCE_POINTS_IN_TRANSIT)
    return context.owner_account(kind, card.alliance_id)


_Step = Callable[[ApplyContext, Command, CommandPayload], Decision]
_TRANSFER_STEPS: dict[CommandKind, _Step] = {
    CommandKind.TRANSIT_DEBIT: _debit, CommandKind.TRANSIT_CREDIT: _credit,
    CommandKind.TRANSIT_VOID: _void,
}
_REPLACEMENT_STEPS: dict[CommandKind, _Step] = {
    CommandKind.TRANSIT_DEBIT: _debit_card, CommandKind.TRANSIT_CREDIT: _credit_card,
    CommandKind.TRANSIT_VOID: _void_card,
}
