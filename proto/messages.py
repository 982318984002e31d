"""Which requests exist and which fields each requires (host interface §4)."""

from __future__ import annotations

from datetime import UTC, datetime

from proto.codes import (
    CURRENCY_FEN,
    CURRENCY_POINTS,
    Mti,
    NetworkCode,
    ProcessingCode,
    ResponseCode,
)
from proto.fields import OriginalData, encode_original_data

# A reversal copies these from its original; 7 is its own, 11 the original's.
_REVERSAL_COPIED_FIELDS = ("2", "3", "4", "11", "12", "13", "22", "25", "37", "41", "42", "48",
                           "49", "60")
_FINANCIAL_FIELDS = ("2", "3", "4", "7", "11", "12", "13", "22", "25", "41", "42", "49", "60")

# Field 49 of each 0200 processing code.
FINANCIAL_CURRENCY: dict[str, str] = {
    ProcessingCode.PURCHASE: CURRENCY_FEN,
    ProcessingCode.PURCHASE_STORED_VALUE: CURRENCY_FEN,
    ProcessingCode.REDEMPTION: CURRENCY_POINTS,
    ProcessingCode.RETURN: CURRENCY_FEN,
    ProcessingCode.STORED_VALUE_LOAD: CURRENCY_FEN,
    ProcessingCode.POINTS_TO_STORED_VALUE: CURRENCY_POINTS,
    ProcessingCode.LOTTERY: CURRENCY_POINTS,
}


def _financial(code: str) -> tuple[str, ...]:
    return _FINANCIAL_FIELDS + (("37",) if code == ProcessingCode.RETURN else ())


REQUIRED_FIELDS: dict[tuple[str, str | None], tuple[str, ...]] = {
    (Mti.NETWORK, None): ("7", "11", "41", "42", "70"),
    (Mti.AUTHORISATION, ProcessingCode.BALANCE_INQUIRY):
        ("2", "3", "7", "11", "12", "13", "22", "25", "41", "42"),
    **{(Mti.FINANCIAL, code): _financial(code) for code in FINANCIAL_CURRENCY},
    (Mti.FINANCIAL_ADVICE, ProcessingCode.PURCHASE): _financial(ProcessingCode.PURCHASE),
    **{
        (mti, code): _financial(code) + ("39", "90")
        for mti in (Mti.REVERSAL, Mti.REVERSAL_ADVICE)
        for code in FINANCIAL_CURRENCY
    },
    (Mti.RECONCILIATION, ProcessingCode.RECONCILIATION): (
        "3", "7", "11", "41", "42", "60",
        "74", "75", "76", "77", "86", "87", "88", "89",
    ),
}

NETWORK_CODES = frozenset(NetworkCode)
KNOWN_MTIS = frozenset(mti for mti, _ in REQUIRED_FIELDS)
# The requests' MTIs and their answers' (message function + 1: 0100 -> 0110): the only MTIs that
# become a metric label; any other (from a terminal or a link) is "other", one series.
LABELLED_MTIS = KNOWN_MTIS | frozenset(
    f"{mti[:2]}{int(mti[2]) + 1}{mti[3]}" for mti in KNOWN_MTIS)
MTI_LABEL_OTHER = "other"
# Requests a terminal may send before it has signed on: an 0800, except a sign-off or key
# change (§7, 1.2: those need a session to end or rekey).
SIGN_ON_EXEMPT_MTIS = frozenset({Mti.NETWORK})
SIGNED_ON_NETWORK_CODES = frozenset({NetworkCode.SIGN_OFF, NetworkCode.KEY_CHANGE})
# 0200s that create stored value: where the alliance requires MAC for them (1.2 §8), a
# terminal that need not MAC gets 58. Their reversals are not refused: they only take back.
MAC_ONLY_PROCESSING_CODES = frozenset(
    {ProcessingCode.STORED_VALUE_LOAD, ProcessingCode.POINTS_TO_STORED_VALUE})


def needs_sign_on(mti: str, network_code: str | None) -> bool:
    """True when a terminal must be signed on to send this request (else 58)."""
    if mti in SIGN_ON_EXEMPT_MTIS:
        return network_code in SIGNED_ON_NETWORK_CODES
    return True


def mti_label(mti: str) -> str:
    """The metric label of an MTI read from the wire: itself when the spec knows it, else
    "other", so that a peer sending random MTIs cannot create series without end."""
    return mti if mti in LABELLED_MTIS else MTI_LABEL_OTHER


def message_kind(mti: str, processing_code: str | None) -> tuple[str, str | None] | None:
    """The key of REQUIRED_FIELDS for this request, or None for an unknown MTI or code (12)."""
    key = (mti, None) if mti == Mti.NETWORK else (mti, processing_code)
    return key if key in REQUIRED_FIELDS else None


# Messages whose field 49 is fixed by the processing code (points or fen).
CURRENCY_CHECKED_MTIS = frozenset(
    {Mti.FINANCIAL, Mti.FINANCIAL_ADVICE, Mti.REVERSAL, Mti.REVERSAL_ADVICE})


def kind_or_refusal(
    mti: str, processing_code: str | None, network_code: str | None,
) -> tuple[tuple[str, str | None] | None, ResponseCode | None]:
    """Check 1 of §4, the front's and the host's alike: the request's key in REQUIRED_FIELDS,
    or 12 for an MTI, processing code or network code of no message (30 for a known MTI
    without its processing code: a missing field, not an unknown code)."""
    kind = message_kind(mti, processing_code)
    if kind is None:
        if processing_code is None and mti in KNOWN_MTIS:
            return None, ResponseCode.FORMAT_ERROR
        return None, ResponseCode.INVALID_TRANSACTION
    if mti == Mti.NETWORK and network_code is not None and network_code not in NETWORK_CODES:
        return None, ResponseCode.INVALID_TRANSACTION
    return kind, None


def currency_fits(kind: tuple[str, str | None], currency: str | None) -> bool:
    """Field 49 is the currency of the processing code, where the kind fixes one."""
    mti, processing_code = kind
    if mti not in CURRENCY_CHECKED_MTIS:
        return True
    assert processing_code is not None, "a financial kind has a processing code"
    return currency == FINANCIAL_CURRENCY[processing_code]


def reversal(
    original: dict[str, str], reason_code: str = "68", advice: bool = False,
) -> dict[str, str]:
    """A 0400 (0420 if `advice`) of a request as it was sent (with its 7 and 11): its own field
    7 is the caller's to set."""
    fields = {name: original[name] for name in _REVERSAL_COPIED_FIELDS if name in original}
    fields["t"] = Mti.REVERSAL_ADVICE if advice else Mti.REVERSAL
    fields["39"] = reason_code
    fields["90"] = encode_original_data(OriginalData(original["t"], original["11"], original["7"]))
    return fields


def transmission_time(now: datetime) -> str:
    """Field 7: MMDDhhmmss in UTC, of an aware datetime."""
    assert now.tzinfo is not None, "field 7 is computed from aware datetimes"
    return now.astimezone(UTC).strftime("%m%d%H%M%S")
