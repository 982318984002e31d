"""A transfer's steps between partitions, decided by this host, sans I/O (docs/transfers.md).

The debit takes the giver's points into the alliance's in-transit account of this partition
and carries what it took (proto/transit.py) in its outcome; the credit, on the taker's host,
takes them out of that host's in-transit account; the void, when the credit was refused, puts
them back on the giver, closed or not (as a reversal ignores status). Each is one transaction
that sums to zero in its own partition.

The host checks each step itself: the debit against the approved request (as a transfer on one
host), the credit and the void against its own copy of the debit's row (decided 00, with the
same payload; the void also against the credit's, refused), and the amount against what the
debit carried. Codes as a transfer on one host: 12 not approved or a step that does not fit,
14 a card this host does not hold, 05 a closed or blocked card, 51 too few points, 57
transfers not allowed, 61 a balance beyond field 54's digits.
"""

from __future__ import annotations

from collections.abc import Callable

from account_host.card_store import Card
from account_host.chart import POINTS_LEDGER, AccountKind
from account_host.commands.item import Command
from account_host.commands.refusals import (
    NOT_PERMITTED,
    Refused,
    check_limit,
    held_card,
    new_transaction,
    open_card,
)
from account_host.context import ApplyContext
from account_host.expiry.keeping import record_lots
from account_host.expiry.lots import decode_moves, encode_moves
from proto.codes import CURRENCY_POINTS, ResponseCode
from proto.host_commands import CommandKind, CommandPayload
from proto.transit import Carried, InvalidCarried, decode_carried, encode_carried

# result code, reason, transaction id (None: refused), what a debit carries (None: nothing)
Decision = tuple[str, str, int | None, bytes | None]

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
    if not command.approved:
        raise Refused(ResponseCode.INVALID_TRANSACTION, _NOT_CHECKED[command.kind])
    if command.other_alliance_id is not None \
            and command.other_alliance_id != command.card_alliance_id:
        raise Refused(ResponseCode.INVALID_TRANSACTION,
                      "the two cards are of different alliances")
    return _STEPS[command.kind](context, command, payload)


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
    transaction_id, day = new_transaction(context, card)
    taker = context.member_points_account(card)
    context.post(transaction_id, POINTS_LEDGER, day,
                 ((_in_transit(context, card), -carried.points), (taker, carried.points)))
    context.batch.add_command_transaction(
        transaction_id, CommandKind.TRANSIT_CREDIT, day, command.correlation_id,
        card_id=card.id, amount=carried.points, currency=CURRENCY_POINTS,
        points=carried.points, stored_value_fen=0)
    # The points keep the last days they had on the giver's card.
    record_lots(context, transaction_id, taker, card.alliance_id,
                undo=decode_moves(carried.lot_moves))
    return (ResponseCode.APPROVED,
            f"{carried.points} points from card {payload.card_id}"
            f" (transfer {command.transfer_id})", transaction_id, None)


def _void(context: ApplyContext, command: Command, payload: CommandPayload) -> Decision:
    """Back to the giver, whatever its status now (it may have been closed meanwhile)."""
    carried = _carried(command, payload)
    card = held_card(context, command.card_hmac, payload.card_id)
    check_limit(context, card.points_account_id, carried.points)
    transaction_id, day = new_transaction(context, card)
    giver = context.member_points_account(card)
    context.post(transaction_id, POINTS_LEDGER, day,
                 ((_in_transit(context, card), -carried.points), (giver, carried.points)))
    context.batch.add_command_transaction(
        transaction_id, CommandKind.TRANSIT_VOID, day, command.correlation_id, card_id=card.id,
        amount=carried.points, currency=CURRENCY_POINTS, points=carried.points,
        stored_value_fen=0)
    record_lots(context, transaction_id, giver, card.alliance_id,
                undo=decode_moves(carried.lot_moves))
    return (ResponseCode.APPROVED,
            f"{carried.points} points back from transfer {command.transfer_id}",
            transaction_id, None)


def _carried(command: Command, payload: CommandPayload) -> Carried:
    """What the debit took, as this partition's copy of its row holds it: the amount the
    transfer names, never another."""
    if command.carried is None:
        raise Refused(ResponseCode.INVALID_TRANSACTION, "the transfer's debit carried nothing")
    try:
        carried = decode_carried(command.carried)
    except InvalidCarried as exc:
        raise Refused(ResponseCode.INVALID_TRANSACTION, str(exc)[:200]) from exc
    if carried.points != payload.points or carried.stored_value_fen != 0:
        raise Refused(ResponseCode.INVALID_TRANSACTION,
                      "the transfer's debit carried other amounts than it names")
    return carried


def _check_may_transact(card: Card) -> None:
    if card.decline_code is not None:
        raise Refused(ResponseCode.DO_NOT_HONOUR,
                      f"card {card.id} may not transact ({card.decline_code})")


def _in_transit(context: ApplyContext, card: Card) -> int:
    return context.owner_account(AccountKind.ALLIANCE_POINTS_IN_TRANSIT, card.alliance_id)


_STEPS: dict[CommandKind, Callable[[ApplyContext, Command, CommandPayload], Decision]] = {
    CommandKind.TRANSIT_DEBIT: _debit,
    CommandKind.TRANSIT_CREDIT: _credit,
    CommandKind.TRANSIT_VOID: _void,
}
