"""The wire: ISO 8583 spec and codec, TCP framing, internal frames and links.

Every component may import this package; it imports none of them.
"""

from proto.codes import Mti, NetworkCode, ProcessingCode, ResponseCode, answer_mti
from proto.errors import (
    FrameSizeError,
    FramingError,
    IsoDecodeError,
    IsoEncodeError,
    LinkCodecError,
    ProtoError,
    TpduError,
)
from proto.frames import Answer, AnswerBatch, Balances, Ping, Pong, Request, RequestBatch, Totals
from proto.framing import Tpdu, encode_frame, read_frame
from proto.iso_codec import IsoMessage, decode_iso, encode_iso
from proto.pan import luhn_check_digit, luhn_valid, mask_pan

__all__ = [
    "Answer", "AnswerBatch", "Balances", "FrameSizeError", "FramingError", "IsoDecodeError",
    "IsoEncodeError", "IsoMessage", "LinkCodecError", "Mti", "NetworkCode", "Ping", "Pong",
    "ProcessingCode", "ProtoError", "Request", "RequestBatch", "ResponseCode", "Totals", "Tpdu",
    "TpduError", "answer_mti", "decode_iso", "encode_frame", "encode_iso", "luhn_check_digit",
    "luhn_valid", "mask_pan", "read_frame",
]
