"""The back office's settings (`[back_office]` in the configuration file)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta


class BackOfficeConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # A request left undecided this long expires: the maker asks again, with what is true
    # then (a day covers a shift change; a month is the most a change may wait).
    approval_expiry_h: Annotated[int, Meta(ge=1, le=720)] = 24
    # How long `jifen` waits for the account host to apply a change of balances before it
    # says the change is queued (the host applies it when it runs again).
    host_command_wait_s: Annotated[float, Meta(ge=0, le=300)] = 10.0
