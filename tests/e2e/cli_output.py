"""The JSON a `jifen` command printed, among the log lines of services running in the same
process (the end-to-end tests run the system and the command in one interpreter)."""

from __future__ import annotations

import json
from typing import Any


def json_document(out: str, opening: str = "{", closing: str = "}") -> Any:
    """The first indented JSON object (or, with "[" and "]", array) in `out`."""
    lines = out.splitlines()
    start, end = lines.index(opening), len(lines) - lines[::-1].index(closing)
    return json.loads("\n".join(lines[start:end]))
