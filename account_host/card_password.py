"""Check 8 of §4, the card password (host interface 1.2): 75 locked, 55 missing or wrong.

Sans-I/O: `judge_password` is a pure function of the card's stored verification value, its
wrong tries in a row and what the front forwarded (proto.card_password); `check_password` applies
its outcome to the card in memory and to the batch, so the tries become durable in the same
group commit as the request that made them (journal.py), never by a round trip of their own.
A retransmission never gets here (it gets its first answer), so it is never a new try.
"""

from __future__ import annotations

from account_host.card_store import Card
from account_host.context import ApplyContext
from proto.card_password import PASSWORD_TRIES_MAX, needs_password, values_equal
from proto.codes import ResponseCode
from proto.frames import Request
from proto.notifications import NotificationKind


def judge_password(
    stored: bytes | None, tries: int, offered: bytes | None,
) -> tuple[ResponseCode | None, int]:
    """For a request that needs the password: the answer (None: go on) and the tries after.

    No stored value: the card has no password, field 52 is ignored. Locked (tries at the
    maximum): 75 whatever is offered. Nothing offered: 55, not a try. A right one clears the
    count; a wrong one (or a malformed block, offered as b"") is a try, and the third in a row
    gets 75."""
    assert tries >= 0
    if stored is None:
        return None, tries
    if tries >= PASSWORD_TRIES_MAX:
        return ResponseCode.PASSWORD_LOCKED, tries
    if offered is None:
        return ResponseCode.PASSWORD_WRONG, tries
    if values_equal(stored, offered):
        return None, 0
    tries += 1
    if tries >= PASSWORD_TRIES_MAX:
        return ResponseCode.PASSWORD_LOCKED, tries
    return ResponseCode.PASSWORD_WRONG, tries


def check_password(context: ApplyContext, request: Request, card: Card) -> ResponseCode | None:
    """75 or 55 for this request, or None; a change of the card's tries goes into the batch."""
    if card.password is None or not needs_password(request.mti, request.processing_code):
        return None
    code, tries = judge_password(card.password, card.password_tries, request.card_password)
    if tries != card.password_tries:
        card.password_tries = tries
        context.batch.set_password_tries(card.id, card.password_version, tries)
        if code is ResponseCode.PASSWORD_LOCKED:   # this very try locked it
            context.batch.add_state_event(NotificationKind.PASSWORD_LOCKED, card.id)
    return code
