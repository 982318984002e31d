"""What an audit row may hold: anything sensitive masked or left out, before it is written.

A card number becomes its mask (first 6, last 4); a key, a TMK, a password, a PIN block or a
verifier is never stored, only the fact that it was set. Values must be JSON scalars or lists
of them, so that a row reads the same in ten years.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from proto.pan import mask_pan

# Fields whose value is a card number: stored masked.
PAN_FIELDS = frozenset({"pan", "card_number"})
# Fields never stored at all: their value becomes SECRET_SET.
SECRET_FIELDS = frozenset({
    "password", "tmk", "tmk_hex", "key", "kek", "pin", "pin_block", "verifier",
    "session_key", "mobile", "id_number",
})
SECRET_SET = "***"
# A before/after holds a few fields of one object; a long text is someone's mistake.
TEXT_LENGTH_MAX = 200


def mask_fields(fields: Mapping[str, object] | None) -> dict[str, object] | None:
    """`fields` fit for audit_log.before/after: PANs masked, secrets replaced, values plain."""
    if fields is None:
        return None
    return {name: _masked(name, value) for name, value in fields.items()}


def _masked(name: str, value: object) -> object:
    if name in SECRET_FIELDS:
        return None if value is None else SECRET_SET
    if name in PAN_FIELDS and isinstance(value, str):
        return mask_pan(value) if value.isdigit() else value
    if isinstance(value, bool | int | None):
        return value
    if isinstance(value, Decimal | date | datetime):
        return str(value) if not isinstance(value, date | datetime) else value.isoformat()
    if isinstance(value, str):
        return value[:TEXT_LENGTH_MAX]
    if isinstance(value, list | tuple):
        return [_masked(name, item) for item in value]
    raise AssertionError(f"audit field {name} has a value of type {type(value).__name__}")
