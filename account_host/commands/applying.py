"""Applying one back-office command to the in-memory state, sans I/O, as a request is.

Checks in order: read once (a command read twice is applied once), its payload, maker-checker
(the host's own reading of the approval), the cards (on this host, not closed), then the kind's
own (balance, alliance, the new card's state). A refusal posts nothing and is written with its
code and reason; an approval posts one transaction (no terminal, no message) whose entries
each move a member's account against the alliance's, or against the other card's.

Codes, as a terminal would get them: 12 not approved, or a payload or card pair no kind
allows; 14 a card this host does not hold; 05 a closed card, or one not in a state to take
part; 51 a balance that would go below zero, 61 one that would go above what field 54 shows;
57 transfers not allowed in the alliance.

A gift command (restock, withdrawal) names a gift this host keeps instead of a card, posts
nothing, and is done with no transaction: the gift's new stock or state is written in the
batch's statement (12 a gift this host does not keep, 05 a restock of a withdrawn gift,
61 a stock beyond GIFT_STOCK_MAX).

An imported purchase (a line of a merchant's file) is decided and posted as an advice of the
merchant's: commands/imported_purchase.py. A transfer's steps between partitions (debit,
credit, void): commands/transit.py. A referral credit (a bonus another partition's purchase owed
a card of this one) is checked against this partition's copy of the credit central made.
"""

from __future__ import annotations

import structlog

from account_host.card_store import Card
from account_host.chart import MONEY_LEDGER, POINTS_LEDGER, AccountKind
from account_host.commands.imported_purchase import decide_imported_purchase
from account_host.commands.item import Command
from account_host.commands.refusals import (
    NOT_PERMITTED,
    Outcome,
    Refused,
    check_limit,
    close_card,
    new_transaction,
    open_card,
)
from account_host.commands.transit import Decision, decide_transit_step
from account_host.context import ApplyContext
from account_host.expiry.keeping import keep_lots, record_lots
from account_host.expiry.sweep import expire_points
from account_host.state import Gift
from account_host.tiers.review import review_tiers
from proto.codes import CURRENCY_FEN, CURRENCY_POINTS, ResponseCode
from proto.frames import Answer
from proto.host_commands import (
    GIFT_KINDS,
    IMPORT_KINDS,
    NEEDS_APPROVAL,
    SWEEP_KINDS,
    TRANSIT_KINDS,
    TWO_CARDS,
    CommandKind,
    CommandPayload,
    GiftPayload,
)

log = structlog.get_logger("account_host.commands")

# A new card takes over only from these (a sold card not yet activated, or an active one).
_REPLACING_STATUSES = frozenset({"active", "inactive"})

# The most of one gift a catalogue keeps in stock: far beyond any shelf, far below a bigint.
GIFT_STOCK_MAX = 10**12


def apply_command(context: ApplyContext, command: Command) -> Answer:
    """The command decided and recorded in the batch; its answer for the writer (94: read
    again while already applied to this state, nothing written)."""
    state = context.state
    command_id = command.correlation_id
    if command_id in state.commands_taken:
        return Answer(command_id, ResponseCode.DUPLICATE_MISMATCH)
    state.commands_taken.add(command_id)
    try:
        code, reason, transaction_id, carried = _decide(context, command)
    except Refused as refused:
        code, reason, transaction_id, carried = refused.code, refused.reason, None, None
    context.batch.decide_command(command_id, code, reason, transaction_id, carried)
    # A merchant's file brings 10^5 commands at once: theirs at debug (the run's report has them).
    (log.debug if command.kind in IMPORT_KINDS else log.info)(
        "command_decided", command=command_id, kind=command.kind, result_code=code,
        reason=reason)
    return Answer(command_id, code)


def _decide(context: ApplyContext, command: Command) -> Decision:
    if command.kind in TRANSIT_KINDS:
        return decide_transit_step(context, command)
    return (*_decide_kind(context, command), None)


def _decide_kind(context: ApplyContext, command: Command) -> Outcome:
    if command.kind in GIFT_KINDS:
        return _decide_gift(context, command)
    if command.kind in SWEEP_KINDS:
        return _decide_sweep(context, command)
    if command.kind in IMPORT_KINDS:
        return decide_imported_purchase(context, command)
    payload = command.payload
    if payload is None:
        raise Refused(ResponseCode.INVALID_TRANSACTION, command.invalid or "invalid payload")
    if command.kind in NEEDS_APPROVAL and not command.approved:
        raise Refused(ResponseCode.INVALID_TRANSACTION,
                      "not approved by a second operator")
    if command.kind is CommandKind.REFERRAL_CREDIT and not command.approved:
        raise Refused(ResponseCode.INVALID_TRANSACTION,
                      "no referral credit of this partition's copy names it")
    card = open_card(context, command.card_hmac, payload.card_id, command.card_status)
    other = None
    if command.kind in TWO_CARDS:
        assert command.other_hmac is not None and payload.other_card_id is not None
        other = open_card(context, command.other_hmac, payload.other_card_id,
                      command.other_status or "")
        if other.alliance_id != card.alliance_id:
            raise Refused(ResponseCode.INVALID_TRANSACTION,
                          "the two cards are of different alliances")
        if command.kind is CommandKind.CARD_REPLACEMENT \
                and command.other_status not in _REPLACING_STATUSES:
            raise Refused(ResponseCode.DO_NOT_HONOUR,
                          f"the new card {other.id} is {command.other_status}: it takes over"
                          " only when active or newly sold (inactive)")
    handler = _HANDLERS[command.kind]
    return handler(context, command.correlation_id, payload, card, other)


def _decide_gift(context: ApplyContext, command: Command) -> Outcome:
    payload = command.gift
    if payload is None:
        raise Refused(ResponseCode.INVALID_TRANSACTION, command.invalid or "invalid payload")
    key = (payload.alliance_id, payload.gift_code)
    gift = context.state.gifts.get(key)
    if gift is None:
        raise Refused(ResponseCode.INVALID_TRANSACTION,
                      f"gift {payload.gift_code} is not kept by this host")
    if command.kind is CommandKind.GIFT_RESTOCK:
        _restock_gift(gift, payload)
        result = f"+{payload.quantity}: {gift.stock} in stock"
    else:
        gift.active = False
        result = "withdrawn" + ("" if gift.stock is None else f" with {gift.stock} in stock")
    context.batch.set_gift(*key, gift.stock, gift.active)
    return ResponseCode.APPROVED, result, None


def _decide_sweep(context: ApplyContext, command: Command) -> Outcome:
    """Done with no transaction named (it posts one per card), whatever it found to book."""
    sweep = command.sweep
    if sweep is None:
        raise Refused(ResponseCode.INVALID_TRANSACTION, command.invalid or "invalid payload")
    if sweep.alliance_id not in context.state.alliances:
        raise Refused(ResponseCode.INVALID_TRANSACTION,
                      f"alliance {sweep.alliance_id} is not known to this host")
    if command.kind is CommandKind.TIER_REVIEW:
        reviewed = review_tiers(context, sweep, command.sweep_cards)
        return (ResponseCode.APPROVED,
                f"{reviewed.reviewed} tiers reviewed, {reviewed.lowered} lowered (years ended"
                f" before {sweep.through})", None)
    totals = expire_points(context, sweep, command.sweep_cards)
    return (ResponseCode.APPROVED,
            f"{totals.points} points of {totals.cards} cards expired (last days before"
            f" {sweep.through})", None)


def _restock_gift(gift: Gift, payload: GiftPayload) -> None:
    """Checked, then changed: a restock of a gift whose stock is not counted starts counting."""
    if not gift.active:
        raise Refused(ResponseCode.DO_NOT_HONOUR,
                      f"gift {payload.gift_code} is withdrawn; add a new one instead")
    stock = (gift.stock or 0) + payload.quantity
    if stock > GIFT_STOCK_MAX:
        raise Refused(ResponseCode.AMOUNT_LIMIT, f"a stock above {GIFT_STOCK_MAX}")
    gift.stock = stock


def _adjust_points(
    context: ApplyContext, command_id: int, payload: CommandPayload, card: Card,
    _other: Card | None,
) -> Outcome:
    return _adjust(context, command_id, card, payload.points, points_ledger=True)


def _adjust_stored_value(
    context: ApplyContext, command_id: int, payload: CommandPayload, card: Card,
    _other: Card | None,
) -> Outcome:
    return _adjust(context, command_id, card, payload.stored_value_fen, points_ledger=False)


def _adjust(
    context: ApplyContext, command_id: int, card: Card, amount: int, *, points_ledger: bool,
) -> Outcome:
    """`amount` points (or fen) in or out of the card, against the alliance's adjustment
    account in that ledger."""
    if points_ledger:
        account_id, unit = card.points_account_id, "points"
        ledger, kind, currency = POINTS_LEDGER, CommandKind.POINTS_ADJUSTMENT, CURRENCY_POINTS
        counter = AccountKind.ALLIANCE_POINTS_ADJUSTED
    else:
        account_id, unit = card.stored_value_account_id, "fen"
        ledger, kind, currency = MONEY_LEDGER, CommandKind.STORED_VALUE_ADJUSTMENT, CURRENCY_FEN
        counter = AccountKind.ALLIANCE_STORED_VALUE_ADJUSTED
    balance = context.state.balance(account_id)
    if balance + amount < 0:
        raise Refused(ResponseCode.INSUFFICIENT_FUNDS,
                      f"the card has {balance} {unit}; {amount} would take it below zero")
    check_limit(context, account_id, amount)
    transaction_id, day = new_transaction(context, card)
    member = (context.member_points_account(card) if points_ledger
              else context.member_stored_value_account(card))
    alliance = context.owner_account(counter, card.alliance_id)
    context.post(transaction_id, ledger, day, ((member, amount), (alliance, -amount)))
    context.batch.add_command_transaction(
        transaction_id, kind, day, command_id, card_id=card.id, amount=abs(amount),
        currency=currency, points=amount if points_ledger else 0,
        stored_value_fen=0 if points_ledger else amount)
    if points_ledger:   # points given make a lot; points taken come from the oldest
        record_lots(context, transaction_id, member, card.alliance_id, earned=amount)
    return ResponseCode.APPROVED, f"{amount:+d} {unit}", transaction_id


def _transfer_points(
    context: ApplyContext, command_id: int, payload: CommandPayload, card: Card,
    other: Card | None,
) -> Outcome:
    assert other is not None
    if not context.state.alliances[card.alliance_id].points_transfer_allowed:
        raise Refused(NOT_PERMITTED, "the alliance does not allow transfers of points")
    for party in (card, other):
        if party.decline_code is not None:
            raise Refused(ResponseCode.DO_NOT_HONOUR,
                          f"card {party.id} may not transact ({party.decline_code})")
    points = payload.points
    balance = context.state.balance(card.points_account_id)
    if balance < points:
        raise Refused(ResponseCode.INSUFFICIENT_FUNDS,
                      f"the card has {balance} points, fewer than {points}")
    check_limit(context, other.points_account_id, points)
    transaction_id, day = new_transaction(context, card)
    giver = context.member_points_account(card)
    taker = context.member_points_account(other)
    context.post(transaction_id, POINTS_LEDGER, day, ((giver, -points), (taker, points)))
    context.batch.add_command_transaction(
        transaction_id, CommandKind.POINTS_TRANSFER, day, command_id, card_id=card.id,
        amount=points, currency=CURRENCY_POINTS, points=-points, stored_value_fen=0)
    _hand_over_lots(context, transaction_id, giver, taker, card.alliance_id)
    return ResponseCode.APPROVED, f"{points} points to card {other.id}", transaction_id


def _replace_card(
    context: ApplyContext, command_id: int, _payload: CommandPayload, card: Card,
    other: Card | None,
) -> Outcome:
    """Every balance to the new card (`other`) in one transaction; the old one closed, the
    new one active."""
    assert other is not None
    state = context.state
    if state.balance(other.points_account_id) or state.balance(other.stored_value_account_id):
        raise Refused(ResponseCode.INVALID_TRANSACTION,
                      f"the new card {other.id} has balances of its own")
    points = state.balance(card.points_account_id)
    fen = state.balance(card.stored_value_account_id)
    transaction_id, day = new_transaction(context, card)
    if points:
        giver = context.member_points_account(card)
        taker = context.member_points_account(other)
        context.post(transaction_id, POINTS_LEDGER, day, ((giver, -points), (taker, points)))
    if fen:
        context.post(transaction_id, MONEY_LEDGER, day, (
            (context.member_stored_value_account(card), -fen),
            (context.member_stored_value_account(other), fen)))
    context.batch.add_command_transaction(
        transaction_id, CommandKind.CARD_REPLACEMENT, day, command_id, card_id=card.id,
        amount=fen, currency=CURRENCY_FEN, points=-points, stored_value_fen=-fen)
    if points:
        _hand_over_lots(context, transaction_id, giver, taker, card.alliance_id)
    close_card(context, card, transaction_id)
    if other.decline_code is not None:   # sold, not yet activated: it is the card now
        other.decline_code = None
        context.batch.set_card_status(other.id, "active", transaction_id)
    return (ResponseCode.APPROVED,
            f"{points} points and {fen} fen to card {other.id}; card {card.id} closed",
            transaction_id)


def _close_card(
    context: ApplyContext, command_id: int, _payload: CommandPayload, card: Card,
    _other: Card | None,
) -> Outcome:
    """Stored value paid out (to the alliance's refunds account: the cash leaves), points
    forfeited to breakage; the card closed."""
    state = context.state
    points = state.balance(card.points_account_id)
    fen = state.balance(card.stored_value_account_id)
    transaction_id, day = new_transaction(context, card)
    if points:
        breakage = context.owner_account(AccountKind.ALLIANCE_BREAKAGE, card.alliance_id)
        member = context.member_points_account(card)
        context.post(transaction_id, POINTS_LEDGER, day, ((member, -points), (breakage, points)))
    if fen:
        refunded = context.owner_account(AccountKind.ALLIANCE_STORED_VALUE_REFUNDED,
                                         card.alliance_id)
        context.post(transaction_id, MONEY_LEDGER, day, (
            (context.member_stored_value_account(card), -fen), (refunded, fen)))
    context.batch.add_command_transaction(
        transaction_id, CommandKind.CARD_CLOSURE, day, command_id, card_id=card.id,
        amount=fen, currency=CURRENCY_FEN, points=-points, stored_value_fen=-fen)
    if points:   # a balance below zero has no lots: only one above zero is forfeited
        record_lots(context, transaction_id, member, card.alliance_id)
    close_card(context, card, transaction_id)
    return (ResponseCode.APPROVED, f"{fen} fen paid out, {points} points forfeited; closed",
            transaction_id)


def _join_bonus(
    context: ApplyContext, command_id: int, _payload: CommandPayload, card: Card,
    _other: Card | None,
) -> Outcome:
    """The points the earn rules in force give for joining, to the member's first card."""
    rules = context.earning(card.alliance_id).rules
    points = 0 if rules is None else rules.rules.bonuses.join
    if not points:
        raise Refused(ResponseCode.INVALID_TRANSACTION,
                      "the earn rules in force give no join bonus")
    return _bonus(context, command_id, card, points, CommandKind.JOIN_BONUS, "for joining")


def _referral_credit(
    context: ApplyContext, command_id: int, payload: CommandPayload, card: Card,
    _other: Card | None,
) -> Outcome:
    """A referral bonus another partition's purchase owed this card (its host did not hold
    it): the points it names, against the alliance's bonus account, as on one host."""
    return _bonus(context, command_id, card, payload.points, CommandKind.REFERRAL_CREDIT,
                  "for a referral")


def _bonus(
    context: ApplyContext, command_id: int, card: Card, points: int, kind: CommandKind,
    why: str,
) -> Outcome:
    """`points` to the card against the alliance's bonus account, in a lot where points
    expire."""
    check_limit(context, card.points_account_id, points)
    transaction_id, day = new_transaction(context, card)
    member = context.member_points_account(card)
    alliance = context.owner_account(AccountKind.ALLIANCE_POINTS_BONUS, card.alliance_id)
    context.post(transaction_id, POINTS_LEDGER, day, ((member, points), (alliance, -points)))
    context.batch.add_command_transaction(
        transaction_id, kind, day, command_id, card_id=card.id, amount=points,
        currency=CURRENCY_POINTS, points=points, stored_value_fen=0)
    record_lots(context, transaction_id, member, card.alliance_id, earned=points)
    return ResponseCode.APPROVED, f"+{points} points {why}", transaction_id


def _hand_over_lots(
    context: ApplyContext, transaction_id: int, giver: int, taker: int, alliance_id: int,
) -> None:
    """The points given leave the giver's lots oldest first and keep their last days in the
    taker's (those that never expire stay so)."""
    given = record_lots(context, transaction_id, giver, alliance_id)
    keep_lots(context, taker, alliance_id, context.state.balance(taker), undo=given)


_HANDLERS = {
    CommandKind.POINTS_ADJUSTMENT: _adjust_points,
    CommandKind.STORED_VALUE_ADJUSTMENT: _adjust_stored_value,
    CommandKind.POINTS_TRANSFER: _transfer_points,
    CommandKind.CARD_REPLACEMENT: _replace_card,
    CommandKind.CARD_CLOSURE: _close_card,
    CommandKind.JOIN_BONUS: _join_bonus,
    CommandKind.REFERRAL_CREDIT: _referral_credit,
}
