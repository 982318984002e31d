"""The pyiso8583 codec the fast one must equal: the test oracle, and the encoder of inputs the
fast path does not take (keys that are not field numbers as we spell them, values that are not
strings), so that even those get pyiso8583's exact bytes and errors."""

from __future__ import annotations

import iso8583

from proto.errors import IsoDecodeError, IsoEncodeError
from proto.iso_spec import SPEC


def decode_iso_reference(body: bytes) -> dict[str, str]:
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


def encode_iso_reference(message: dict[str, str]) -> bytes:
    """Bytes of a message we built; bitmaps are computed here."""
    try:
        encoded, _ = iso8583.encode(dict(message), SPEC)
    except iso8583.EncodeError as exc:
        raise IsoEncodeError(str(exc)) from exc
    return bytes(encoded)
