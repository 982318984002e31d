"""Decode and encode ISO 8583 bodies (MTI onwards), mapping library errors to ours."""

from __future__ import annotations

import iso8583

from proto.errors import IsoDecodeError, IsoEncodeError
from proto.iso_spec import SPEC

IsoMessage = dict[str, str]
"""Field number as a string ("2", "39") -> value; "t" is the MTI; bitmaps are left out."""


def decode_iso(body: bytes) -> IsoMessage:
    """The fields of one message; any defect of MTI, bitmap or lengths is an IsoDecodeError."""
    try:
        message, _ = iso8583.decode(body, SPEC)
    except iso8583.DecodeError as exc:
        raise IsoDecodeError(str(exc)) from exc
    except (ValueError, TypeError, IndexError, KeyError, UnicodeError) as exc:
        # pyiso8583 lets a few malformed inputs escape as plain errors; they are decode errors.
        raise IsoDecodeError(f"undecodable message: {exc!r}") from exc
    message.pop("p", None)
    message.pop("1", None)
    mti = message.get("t", "")
    if len(mti) != 4 or not mti.isdigit():
        raise IsoDecodeError(f"MTI {mti!r} is not 4 digits")
    return message


def encode_iso(message: IsoMessage) -> bytes:
    """Bytes of a message we built; bitmaps are computed here."""
    try:
        encoded, _ = iso8583.encode(dict(message), SPEC)
    except iso8583.EncodeError as exc:
        raise IsoEncodeError(str(exc)) from exc
    return bytes(encoded)
