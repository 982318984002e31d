"""A codec specialised for our ISO 8583 spec: the bytes and verdicts of pyiso8583, faster.

pyiso8583 walks a dict of dicts per field and builds a second, encoded copy of every message;
here each field's layout is read once from proto.iso_spec at import and a message is one pass
over one string. tests/proto/test_iso_fast*.py check by hypothesis, on every field of the spec,
that bytes, fields and accept/reject verdicts equal the pyiso8583 reference (reference.py),
which stays as the oracle and as the encoder of inputs outside the fast path's shape.
"""

from proto.iso_fast.decode import decode_iso
from proto.iso_fast.encode import encode_iso
from proto.iso_fast.reference import decode_iso_reference, encode_iso_reference

__all__ = ["decode_iso", "decode_iso_reference", "encode_iso", "encode_iso_reference"]
