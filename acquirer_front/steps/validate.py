"""Checks 1 and 2: the kind of message (12), then its fields and their formats (30)."""

from __future__ import annotations

from acquirer_front.exchange import Exchange
from proto.codes import ResponseCode
from proto.fields import (
    TlvError,
    is_valid_transmission_time,
    is_well_formed,
    parse_tlv,
    request_tags_fit,
)
from proto.messages import REQUIRED_FIELDS, currency_fits, kind_or_refusal


class ValidateMessage:
    def __call__(self, exchange: Exchange) -> ResponseCode | None:
        message = exchange.message
        mti = exchange.mti
        kind, refusal = kind_or_refusal(mti, message.get("3"), message.get("70"))
        if kind is None:
            return refusal
        exchange.kind = kind
        return _check_fields(message, kind)


def _check_fields(message: dict[str, str], kind: tuple[str, str | None]) -> ResponseCode | None:
    if any(field not in message for field in REQUIRED_FIELDS[kind]):
        return ResponseCode.FORMAT_ERROR
    # Every field present, required or not, must fit its format: the host trusts them all.
    for field, value in message.items():
        if field != "t" and not is_well_formed(field, value):
            return ResponseCode.FORMAT_ERROR
    if not is_valid_transmission_time(message["7"]):
        return ResponseCode.FORMAT_ERROR
    if not currency_fits(kind, message.get("49")):
        return ResponseCode.FORMAT_ERROR
    if "48" in message:
        try:
            tags = parse_tlv(message["48"])
        except TlvError:
            return ResponseCode.FORMAT_ERROR
        if not request_tags_fit(tags):   # OA is n12, and never with GC
            return ResponseCode.FORMAT_ERROR
    return None
