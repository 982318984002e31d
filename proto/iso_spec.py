"""The ISO 8583 spec of the host interface (docs/host-interface.md §2).

It is pyiso8583's `default_ascii`, unchanged: a terminal built with that library's spec must
decode and encode exactly as we do. Field lengths tighter than the spec's (field 60 is n6 in
LLLVAR) are checked by the validator, which answers 30, not by the decoder.
"""

import copy

import iso8583.specs

SPEC = copy.deepcopy(iso8583.specs.default_ascii)
