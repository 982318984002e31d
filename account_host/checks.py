"""The checks the host makes before a transaction kind sees a request (host interface §4,
"Order of checks"): terminal (58) and merchant (03), which the front checked too and the host
checks again rather than trust its link peer, batch open (12), then the card (14, 41, 43, 54,
05). The kind and fields (12, 30) are request_fields.py's."""

from __future__ import annotations

from account_host.card_store import Card
from account_host.state import HostState, Merchant
from proto.codes import ResponseCode
from proto.frames import Request
from proto.keys.cards import pan_hmac

PAN_LENGTH_MIN = 16
PAN_LENGTH_MAX = 19
# Luhn: every second digit from the right, doubled, with the digits of the double summed.
_DOUBLED_DIGIT_SUM = bytes.maketrans(b"0123456789", b"0246813579")
# Card statuses that come before the expiry check (§4: 14, 41, 43, 54, 05).
_BEFORE_EXPIRY = frozenset({ResponseCode.CARD_LOST, ResponseCode.CARD_STOLEN})


def check_batch_open(state: HostState, request: Request) -> ResponseCode | None:
    """12 when field 60 is present and is not the terminal's open batch."""
    if request.batch_number is None:
        return None
    if request.batch_number != state.open_batch(request.terminal_code):
        return ResponseCode.INVALID_TRANSACTION
    return None


def check_terminal(
    state: HostState, request: Request
) -> tuple[Merchant | None, ResponseCode | None]:
    """The merchant of field 42, or 58 when the terminal (41) is not registered or not active,
    03 when field 42 is not the terminal's merchant, or that merchant is not active in a known
    alliance. One dict lookup more than the merchant's; the host's copies of both may lag a
    change by a notification (the front's lag too)."""
    terminal = state.terminals.get(request.terminal_code)
    if terminal is None or not terminal.active:
        return None, ResponseCode.TERMINAL_NOT_ALLOWED
    merchant = state.merchants.get(request.merchant_code)
    if merchant is None or merchant.id != terminal.merchant_id or not merchant.active \
            or merchant.alliance_id not in state.alliances:
        return None, ResponseCode.MERCHANT_INVALID
    return merchant, None


def luhn_valid(pan: str) -> bool:
    """proto.pan.luhn_valid's answer in a quarter of its time: sums of bytes, no Python loop
    (the card check runs for almost every request)."""
    if not (pan.isascii() and pan.isdigit()) or len(pan) < 2:
        return False
    digits = pan.encode("ascii")
    kept, doubled = digits[-1::-2], digits[-2::-2].translate(_DOUBLED_DIGIT_SUM)
    return (sum(kept) + sum(doubled) - ord("0") * len(digits)) % 10 == 0


def find_card(state: HostState, pan: str | None, merchant: Merchant | None) -> Card | None:
    """The card, if this host has it and it belongs to the merchant's alliance."""
    if pan is None or not PAN_LENGTH_MIN <= len(pan) <= PAN_LENGTH_MAX or not luhn_valid(pan):
        return None
    card = state.cards.get(pan_hmac(state.pan_lookup_key, pan))
    if card is None or (merchant is not None and card.alliance_id != merchant.alliance_id):
        return None
    return card


def check_card(card: Card | None, today_ordinal: int) -> ResponseCode | None:
    """The answer for a card `find_card` did not find (its PAN malformed, unknown, or of
    another alliance), or found reported lost or stolen, expired, or blocked; None: usable."""
    if card is None:
        return ResponseCode.CARD_UNKNOWN
    code = card.decline_code
    if code in _BEFORE_EXPIRY:
        return code
    if card.expires_ordinal < today_ordinal:
        return ResponseCode.CARD_EXPIRED
    return code


def review_reason(card: Card | None, today_ordinal: int) -> str | None:
    """Why an offline advice for this card needs a review: what the card check would have
    declined (None: nothing)."""
    if card is None:
        return "card_unknown"
    if card.decline_code is not None:
        return {ResponseCode.CARD_LOST: "card_lost", ResponseCode.CARD_STOLEN: "card_stolen"}.get(
            card.decline_code, "card_blocked")
    if card.expires_ordinal < today_ordinal:
        return "card_expired"
    return None
