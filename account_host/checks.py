"""The checks the host makes before a transaction kind sees a request (host interface §4,
"Order of checks"): batch open (12), then the card (14, 41, 43, 05, 54)."""

from __future__ import annotations

from account_host.state import Card, HostState
from proto.codes import ResponseCode
from proto.frames import Request
from proto.pan import luhn_valid

PAN_LENGTH_MIN = 16
PAN_LENGTH_MAX = 19


def check_batch_open(state: HostState, request: Request) -> ResponseCode | None:
    """12 when field 60 is present and is not the terminal's open batch."""
    if request.batch_number is None:
        return None
    if request.batch_number != state.open_batch(request.terminal_code):
        return ResponseCode.INVALID_TRANSACTION
    return None


def check_card(
    state: HostState, pan: str | None, today_ordinal: int
) -> tuple[Card | None, ResponseCode | None]:
    """The card, or the answer for a PAN that is malformed, unknown, not usable or expired."""
    if pan is None or not PAN_LENGTH_MIN <= len(pan) <= PAN_LENGTH_MAX or not luhn_valid(pan):
        return None, ResponseCode.CARD_UNKNOWN
    card = state.cards.get(pan)
    if card is None:
        return None, ResponseCode.CARD_UNKNOWN
    if card.decline_code is not None:
        return None, card.decline_code
    if card.expires_ordinal < today_ordinal:
        return None, ResponseCode.CARD_EXPIRED
    return card, None
