"""The back office's settings (`[back_office]` in the configuration file)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta


class BackOfficeConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # A request left undecided this long expires: the maker asks again, with what is true
    # then (a day covers a shift change; a month is the most a change may wait).
    approval_expiry_h: Annotated[int, Meta(ge=1, le=720)] = 24
