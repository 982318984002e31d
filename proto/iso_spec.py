"""The ISO 8583 spec of the host interface (docs/host-interface.md §2).

It is pyiso8583's `default_ascii`, unchanged: a terminal built with that library's spec must
decode and encode exactly as we do. Field lengths tighter than the spec's (field 60 is n6 in
LLLVAR) are checked by the validator, which answers 30, not by the decoder.
"""

import copy
from typing import NotRequired, TypedDict, cast

import iso8583.specs


class FieldSpec(TypedDict):
    """One field of a pyiso8583 spec, as far as we read it (the library types it as Any)."""

    data_enc: str
    len_enc: str
    len_type: int           # the digits of the length prefix: 0 for a fixed width
    max_len: int
    desc: str
    len_count: NotRequired[str]     # "bytes" (the default) or "nibbles"


SPEC = cast(dict[str, FieldSpec], copy.deepcopy(iso8583.specs.default_ascii))
