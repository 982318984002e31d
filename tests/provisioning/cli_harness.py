"""What the provisioning tests share besides fixtures: the KEK they run with, a run's result."""

from __future__ import annotations

import msgspec

TEST_KEK_HEX = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"


class Run(msgspec.Struct):
    exit_code: int
    out: str
    err: str
