"""Step 7: the answer's ISO fields, echoing the request's around the host's (or our) result."""

from __future__ import annotations

import structlog

from proto.codes import Mti, ResponseCode, answer_mti
from proto.errors import IsoEncodeError
from proto.fields import render_balances, totals_to_fields
from proto.frames import Answer
from proto.iso_codec import IsoMessage, encode_iso

log = structlog.get_logger("acquirer_front.answer")

# Fields every answer repeats from its request when the request had them (§4).
ECHOED_FIELDS = ("2", "3", "4", "11", "41", "42", "49")
# Answers whose field 54 also carries the points moved (0210, 0230).
_POINTS_MOVED_MTIS = frozenset({Mti.FINANCIAL, Mti.FINANCIAL_ADVICE})


def echo_fields(request: IsoMessage) -> IsoMessage:
    """MTI + 10 and the echoed fields; 70 too in an 0810."""
    fields = {"t": answer_mti(request["t"])}
    for field in ECHOED_FIELDS:
        value = request.get(field)
        if value is not None:
            fields[field] = value
    if request["t"] == Mti.NETWORK and "70" in request:
        fields["70"] = request["70"]
    return fields


def refusal_fields(request: IsoMessage, code: ResponseCode) -> IsoMessage:
    """An answer made by the front itself (12, 30, 58, 03, A0, 91, 96): the echo and field 39."""
    fields = echo_fields(request)
    fields["39"] = code
    return fields


def answer_fields(request: IsoMessage, answer: Answer) -> IsoMessage:
    fields = echo_fields(request)
    fields["39"] = answer.response_code
    if answer.rrn is not None:
        fields["37"] = answer.rrn
    if answer.auth_code is not None:
        fields["38"] = answer.auth_code
    if answer.additional_data is not None:
        fields["48"] = answer.additional_data
    if answer.balances is not None:
        fields["54"] = render_balances(
            answer.balances, with_points_moved=request["t"] in _POINTS_MOVED_MTIS
        )
    if answer.batch_number is not None:
        fields["60"] = f"{answer.batch_number:06d}"
    if answer.totals is not None:
        fields.update(totals_to_fields(answer.totals))
    return fields


def encode_answer(
    request: IsoMessage, fields: IsoMessage, request_id: str = "",
) -> tuple[bytes, str]:
    """The ISO body and its field 39. An answer that does not fit the spec is a bug upstream:
    the terminal gets 96 rather than nothing."""
    try:
        return encode_iso(fields), fields["39"]
    except IsoEncodeError as exc:
        log.error("answer_not_encodable", request=f"{request['t']}/{request.get('41')}",
                  request_id=request_id, error=str(exc))
        fields = refusal_fields(request, ResponseCode.SYSTEM_ERROR)
        return encode_iso(fields), fields["39"]
