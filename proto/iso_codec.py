"""Decode and encode ISO 8583 bodies (MTI onwards), mapping defects to our errors.

The hot path uses proto.iso_fast, a codec specialised for our spec that gives pyiso8583's bytes
and verdicts (differentially tested by hypothesis in tests/proto/test_iso_fast*.py) at a tenth
of its cost; the pyiso8583 reference stays importable from here as the oracle.
"""

from __future__ import annotations

from proto.iso_fast import decode_iso, decode_iso_reference, encode_iso, encode_iso_reference

IsoMessage = dict[str, str]
"""Field number as a string ("2", "39") -> value; "t" is the MTI; bitmaps are left out."""

__all__ = [
    "IsoMessage", "decode_iso", "decode_iso_reference", "encode_iso", "encode_iso_reference",
]
