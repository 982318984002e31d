"""Checks 1 and 2: the kind of message (12), then its fields and their formats (30)."""

from __future__ import annotations

from acquirer_front.exchange import Exchange
from proto.codes import Mti, ResponseCode
from proto.fields import TlvError, is_valid_transmission_time, is_well_formed, parse_tlv
from proto.messages import (
    FINANCIAL_CURRENCY,
    KNOWN_MTIS,
    NETWORK_CODES,
    REQUIRED_FIELDS,
    message_kind,
)

# Messages whose field 49 is fixed by the processing code (points or fen).
_CURRENCY_CHECKED_MTIS = frozenset(
    {Mti.FINANCIAL, Mti.FINANCIAL_ADVICE, Mti.REVERSAL, Mti.REVERSAL_ADVICE}
)


class ValidateMessage:
    def __call__(self, exchange: Exchange) -> ResponseCode | None:
        message = exchange.message
        mti = exchange.mti
        processing_code = message.get("3")
        kind = message_kind(mti, processing_code)
        if kind is None:
            # A known MTI without its processing code is a missing field, not an unknown code.
            if processing_code is None and mti in KNOWN_MTIS:
                return ResponseCode.FORMAT_ERROR
            return ResponseCode.INVALID_TRANSACTION
        network_code = message.get("70")
        if mti == Mti.NETWORK and network_code is not None and network_code not in NETWORK_CODES:
            return ResponseCode.INVALID_TRANSACTION
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
    mti, processing_code = kind
    if mti in _CURRENCY_CHECKED_MTIS:
        assert processing_code is not None
        if message["49"] != FINANCIAL_CURRENCY[processing_code]:
            return ResponseCode.FORMAT_ERROR
    if "48" in message:
        try:
            parse_tlv(message["48"])
        except TlvError:
            return ResponseCode.FORMAT_ERROR
    return None
