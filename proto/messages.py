"""Which requests exist and which fields each requires (host interface §4)."""

from __future__ import annotations

from proto.codes import CURRENCY_FEN, CURRENCY_POINTS, Mti, NetworkCode, ProcessingCode

_FINANCIAL_FIELDS = ("2", "3", "4", "7", "11", "12", "13", "22", "25", "41", "42", "49", "60")

# Field 49 of each 0200 processing code.
FINANCIAL_CURRENCY: dict[str, str] = {
    ProcessingCode.PURCHASE: CURRENCY_FEN,
    ProcessingCode.PURCHASE_STORED_VALUE: CURRENCY_FEN,
    ProcessingCode.REDEMPTION: CURRENCY_POINTS,
    ProcessingCode.RETURN: CURRENCY_FEN,
    ProcessingCode.STORED_VALUE_LOAD: CURRENCY_FEN,
    ProcessingCode.POINTS_TO_STORED_VALUE: CURRENCY_POINTS,
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
# Requests a terminal may send before it has signed on.
SIGN_ON_EXEMPT_MTIS = frozenset({Mti.NETWORK})


def message_kind(mti: str, processing_code: str | None) -> tuple[str, str | None] | None:
    """The key of REQUIRED_FIELDS for this request, or None for an unknown MTI or code (12)."""
    key = (mti, None) if mti == Mti.NETWORK else (mti, processing_code)
    return key if key in REQUIRED_FIELDS else None
