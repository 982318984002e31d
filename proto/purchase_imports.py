"""Imported purchases (a merchant's period-end file, 期末商户文件导入): what the back
office and the account host agree on.

Each good line of a file becomes one host command of kind `imported_purchase` holding a
PurchasePayload; the row's (merchant, line id) is unique for ever (migration 036), so a line
imported twice cannot even make a second command. The host posts it as a 0220 advice from the
merchant's virtual terminal (`virtual_terminal_code`), in the run's batch (`run_batch_number`),
on the line's business date while that date is open, else on the open date.
"""

from __future__ import annotations

import re
from datetime import date

import msgspec

# Field 4 holds 12 digits: the most one purchase may be, in fen.
AMOUNT_FEN_MAX = 999_999_999_999
# A line id: the merchant's own reference, kept for ever as the idempotency key.
LINE_ID_PATTERN = re.compile(r"[A-Za-z0-9._/-]{1,40}")
# A shop's or receipt's reference as the file gives it: shown on reports, never a key.
RECEIPT_LENGTH_MAX = 40
# Virtual terminals are 'I' and the merchant id in 7 digits (field 41 is 8 characters).
VIRTUAL_TERMINAL_PREFIX = "I"
MERCHANT_ID_MAX = 9_999_999
# Field 60 is six digits: the run's number wraps into it.
BATCH_NUMBER_MAX = 999_999


class PurchasePayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One line of a merchant's file, checked: whose (merchant), which (line id), which card
    (its id, never its number), how much (fen), on which business date, in which import run."""

    merchant_id: int
    line_id: str
    card_id: int
    amount_fen: int
    business_date: date
    run_id: int
    receipt: str = ""


class InvalidPurchase(ValueError):
    """A payload no imported purchase may have (the message says why)."""


def check_purchase(payload: PurchasePayload) -> None:
    """The shape an imported purchase needs, checked where it is made and where it is applied."""
    if not 0 < payload.merchant_id <= MERCHANT_ID_MAX:
        raise InvalidPurchase(f"merchant id 1 to {MERCHANT_ID_MAX}")
    if not LINE_ID_PATTERN.fullmatch(payload.line_id):
        raise InvalidPurchase("a line id is 1 to 40 letters, digits or . _ / -")
    if payload.card_id <= 0 or payload.run_id <= 0:
        raise InvalidPurchase("card_id and run_id are positive")
    if not 0 < payload.amount_fen <= AMOUNT_FEN_MAX:
        raise InvalidPurchase(f"an amount of 1 to {AMOUNT_FEN_MAX} fen")
    if len(payload.receipt) > RECEIPT_LENGTH_MAX:
        raise InvalidPurchase(f"a receipt of at most {RECEIPT_LENGTH_MAX} characters")


def virtual_terminal_code(merchant_id: int) -> str:
    """The merchant's virtual terminal (field 41): it never signs on over TCP."""
    assert 0 < merchant_id <= MERCHANT_ID_MAX, merchant_id
    return f"{VIRTUAL_TERMINAL_PREFIX}{merchant_id:07d}"


def run_batch_number(run_id: int) -> int:
    """The virtual terminal's batch (field 60) for an import run: one batch per run."""
    assert run_id > 0
    return (run_id - 1) % BATCH_NUMBER_MAX + 1


_ENCODER = msgspec.json.Encoder()


def encode_purchase(payload: PurchasePayload) -> str:
    return _ENCODER.encode(payload).decode()


def decode_purchase(text: str | bytes) -> PurchasePayload:
    """InvalidPurchase for a payload that does not decode or is not a purchase's shape."""
    try:
        payload = msgspec.json.decode(text, type=PurchasePayload)
    except msgspec.DecodeError as exc:
        raise InvalidPurchase(f"the payload does not decode: {exc}") from exc
    check_purchase(payload)
    return payload
