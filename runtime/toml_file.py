"""Writing a configuration file: TOML from the builtins a decoded file holds (tables, strings,
numbers, booleans, arrays), for the configurations `jifen up --partitions` generates.

msgspec reads TOML but writes it only through tomli_w, which Jifen does not depend on; a
configuration needs no more than this. Tables are written as `[a.b]` sections, values that
are tables inside arrays as inline tables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(key: object) -> str:
    text = str(key)
    return text if _BARE_KEY.match(text) else json.dumps(text)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)   # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{toml_key(key)} = {toml_value(item)}"
                                for key, item in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def toml_text(document: Mapping[str, Any], prefix: str = "") -> str:
    """The document as TOML: its plain values first, then a section per table, nested."""
    lines = [f"{toml_key(key)} = {toml_value(value)}"
             for key, value in document.items() if not isinstance(value, Mapping)]
    for key, value in document.items():
        if isinstance(value, Mapping):
            name = f"{prefix}.{toml_key(key)}" if prefix else toml_key(key)
            lines += ["", f"[{name}]", toml_text(value, name).rstrip("\n")]
    return "\n".join(lines).strip("\n") + "\n"


def write_toml(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(toml_text(document))
