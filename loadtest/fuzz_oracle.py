"""What the front must do with a stream of bytes, frame by frame (host interface §1 and §4).

The front reads LEN, then the TPDU, then the body, and decodes it; any failure there is a
framing error that closes the connection (a frame cut short closes it once the stream ends).
A decoded request is then checked in the spec's order: the kind of message (12), then its
fields and their formats (30). The oracle runs those same first checks (`decode_iso` and the
front's `ValidateMessage`), so its verdict for a frame is exact:

  - close: a framing error, before or at that frame;
  - answer 12 or 30, with the request's MTI + 10, field 41 and field 11, TPDU swapped;
  - valid: the request is well formed and could post; fuzz cases holding one are not sent
    (the generators make few of them), so every frame sent is malformed and must post nothing.
Unknown MTIs and processing codes get 12, not 30: that is the spec's order of checks.
"""

from __future__ import annotations

import msgspec

from acquirer_front.exchange import Exchange
from acquirer_front.steps.validate import ValidateMessage
from proto.codes import answer_mti
from proto.errors import IsoDecodeError
from proto.framing import FRAME_SIZE_MAX, FRAME_SIZE_MIN, TPDU_ID, TPDU_SIZE, Tpdu
from proto.iso_codec import IsoMessage, decode_iso

LEN_SIZE = 2

# (answer TPDU, answer MTI, field 41, field 11, field 39): what identifies an answer on the wire.
AnswerKey = tuple[bytes, str, str | None, str | None, str]

_validate = ValidateMessage()


class Expectation(msgspec.Struct):
    frames: list[bytes] = []          # complete frames the front must answer, in order
    answers: list[AnswerKey] = []     # their answers (they may overtake each other)
    tail: bytes = b""                 # from the first frame the front must close on
    tail_needs_end: bool = False      # a frame cut short: the front closes when the stream ends
    close_reason: str = ""            # connection.CloseReason's value for the tail
    valid: bool = False               # some frame is a well-formed request: not to be sent
    oracle_error: str = ""            # the decoder raised something other than its own error


def answer_key(tpdu: Tpdu, message: IsoMessage, code: str) -> AnswerKey:
    return (tpdu.swapped().encode(), answer_mti(message["t"]), message.get("41"),
            message.get("11"), code)


def received_key(tpdu: Tpdu, message: IsoMessage) -> AnswerKey:
    return (tpdu.encode(), message["t"], message.get("41"), message.get("11"),
            message.get("39", ""))


def expect(stream: bytes, frame_size_max: int = FRAME_SIZE_MAX) -> Expectation:
    result = Expectation(frames=[], answers=[])
    position = 0
    while position < len(stream):
        rest = stream[position:]
        verdict = _frame_verdict(rest, frame_size_max)
        if isinstance(verdict, str):
            result.tail, result.close_reason = rest, verdict
            result.tail_needs_end = verdict == "truncated"
            return result
        if isinstance(verdict, Exception):
            # The front would fail the same way: a crash of the decoder is a finding.
            result.tail, result.close_reason = rest, "oracle_error"
            result.oracle_error = repr(verdict)
            return result
        size, tpdu, message = verdict
        code = _validate(_exchange(tpdu, message, rest[LEN_SIZE + TPDU_SIZE:size]))
        if code is None:
            result.valid = True
            return result
        result.frames.append(rest[:size])
        result.answers.append(answer_key(tpdu, message, code))
        position += size
    return result


def _frame_verdict(
    rest: bytes, frame_size_max: int
) -> str | Exception | tuple[int, Tpdu, IsoMessage]:
    """A close reason, or (frame size with LEN, TPDU, message) for a decodable request, or
    what the decoder raised besides its own error."""
    if len(rest) < LEN_SIZE:
        return "truncated"
    length = int.from_bytes(rest[:LEN_SIZE], "big")
    if length > frame_size_max or length < FRAME_SIZE_MIN:
        return "frame_size"
    if len(rest) < LEN_SIZE + TPDU_SIZE:
        return "truncated"
    if rest[LEN_SIZE] != TPDU_ID:
        return "tpdu"
    size = LEN_SIZE + length
    if len(rest) < size:
        return "truncated"
    tpdu = Tpdu(int.from_bytes(rest[3:5], "big"), int.from_bytes(rest[5:7], "big"))
    try:
        message = decode_iso(rest[LEN_SIZE + TPDU_SIZE:size])
    except IsoDecodeError:
        return "iso"
    except Exception as exc:  # noqa: BLE001 - a decoder bug is a finding, reported by caller
        return exc
    if len(answer_mti(message["t"])) != 4:
        return "answer_mti"
    return size, tpdu, message


def _exchange(tpdu: Tpdu, message: IsoMessage, body: bytes) -> Exchange:
    return Exchange(tpdu=tpdu, message=message, body=body, received_at_ns=0, arrived_at=0.0,
                    deadline=0.0)
