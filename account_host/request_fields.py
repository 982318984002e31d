"""Checks 1 and 2 of the order of checks (host interface §4), made again at the host: the kind
of message (12), then the fields the spec requires of it and their formats (30).

The front made them already; the host makes them again because it does not trust its link
peer (docs/security.md): a frame built by hand reaches the host without passing the front.
The host sees the normalised `Request`, not the ISO message, so it checks the fields a Request
carries; fields 12, 13 and 25 are not carried (the host never reads them) and stay the front's.
Sans-I/O: a function of the request alone.
"""

from __future__ import annotations

from proto.codes import ResponseCode
from proto.fields import (
    FIELD_FORMATS,
    TlvError,
    is_valid_transmission_time,
    parse_tlv,
    request_tags_fit,
)
from proto.frames import Request, Totals
from proto.messages import REQUIRED_FIELDS, currency_fits, kind_or_refusal

# ISO field -> the Request attribute that carries it, for the text fields.
_TEXT_FIELDS: dict[str, str] = {
    "2": "pan", "3": "processing_code", "7": "transmission_time", "11": "stan",
    "22": "entry_mode", "37": "rrn", "39": "reason_code", "41": "terminal_code",
    "42": "merchant_code", "48": "additional_data", "49": "currency", "70": "network_code",
    "90": "original_data",
}
# proto.fields.is_well_formed's kinds as str methods, each after str.isascii: the same
# answers without a Python call per field (a quarter of the time; the writer runs this for
# every request).
_KIND_PREDICATES = {"n": str.isdigit, "an": str.isalnum, "ans": str.isprintable}
# (attribute, length min, length max, predicate) of each text field.
_TEXT_CHECKS = tuple(
    (attribute, FIELD_FORMATS[field].length_min, FIELD_FORMATS[field].length_max,
     _KIND_PREDICATES[FIELD_FORMATS[field].kind])
    for field, attribute in _TEXT_FIELDS.items())
# ... and the numbers, each with the most its digits can hold (§3: 4 is n12, 60 is n6).
_NUMBER_FIELDS: dict[str, tuple[str, int]] = {
    "4": ("amount", 10**12 - 1), "60": ("batch_number", 10**6 - 1),
}
_TOTALS_FIELDS = frozenset({"74", "75", "76", "77", "86", "87", "88", "89"})
# Required by §4 but not carried by a Request: the front alone checks them.
NOT_CARRIED_FIELDS = frozenset({"12", "13", "25"})
# Counts (74-77) are n10, amounts (86-89) n16.
_COUNT_MAX = 10**10 - 1
_TOTAL_MAX = 10**16 - 1

def _required_attributes(fields: tuple[str, ...]) -> tuple[str, ...]:
    attributes = []
    for field in fields:
        if field in _TEXT_FIELDS:
            attributes.append(_TEXT_FIELDS[field])
        elif field in _NUMBER_FIELDS:
            attributes.append(_NUMBER_FIELDS[field][0])
        elif field in _TOTALS_FIELDS:
            attributes.append("totals")
        else:
            assert field in NOT_CARRIED_FIELDS, f"field {field} is required but not checked"
    return tuple(dict.fromkeys(attributes))


# The Request attributes that must not be None, per kind of message; computed once.
REQUIRED_ATTRIBUTES: dict[tuple[str, str | None], tuple[str, ...]] = {
    kind: _required_attributes(fields) for kind, fields in REQUIRED_FIELDS.items()
}


def check_kind(request: Request) -> tuple[tuple[str, str | None] | None, ResponseCode | None]:
    """The request's key in REQUIRED_FIELDS, or 12 for an MTI, processing code or network code
    of no message (30 for a known MTI without its processing code, as the front answers)."""
    return kind_or_refusal(request.mti, request.processing_code, request.network_code)


def check_fields(request: Request, kind: tuple[str, str | None]) -> ResponseCode | None:
    """30 when a field the kind requires is missing, or any field present breaks its format:
    text fields as §3 says, field 7 a calendar time, amounts and batch within their digits,
    field 49 the currency of the processing code, field 48 well-formed TLV whose tags fit
    (proto.fields.request_tags_fit)."""
    for attribute in REQUIRED_ATTRIBUTES[kind]:
        if getattr(request, attribute) is None:
            return ResponseCode.FORMAT_ERROR
    for attribute, length_min, length_max, predicate in _TEXT_CHECKS:
        value = getattr(request, attribute)
        if value is not None and not (length_min <= len(value) <= length_max
                                      and value.isascii() and predicate(value)):
            return ResponseCode.FORMAT_ERROR
    if not is_valid_transmission_time(request.transmission_time):
        return ResponseCode.FORMAT_ERROR
    for attribute, value_max in _NUMBER_FIELDS.values():
        value = getattr(request, attribute)
        if value is not None and not 0 <= value <= value_max:
            return ResponseCode.FORMAT_ERROR
    if request.totals is not None and not _totals_fit(request.totals):
        return ResponseCode.FORMAT_ERROR
    if not currency_fits(kind, request.currency):
        return ResponseCode.FORMAT_ERROR
    if request.additional_data:
        try:
            tags = parse_tlv(request.additional_data)
        except TlvError:
            return ResponseCode.FORMAT_ERROR
        if not request_tags_fit(tags):
            return ResponseCode.FORMAT_ERROR
    return None


def _totals_fit(totals: Totals) -> bool:
    counts = (totals.purchases_count, totals.returns_count, totals.redemptions_count,
              totals.loads_count)
    amounts = (totals.purchases_fen, totals.returns_fen, totals.redemptions_points,
               totals.loads_fen)
    return all(0 <= count <= _COUNT_MAX for count in counts) and \
        all(0 <= amount <= _TOTAL_MAX for amount in amounts)
