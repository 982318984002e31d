"""PostgreSQL array literals ('{1,2,NULL}') of a batch's columns, sent as one text parameter
each and cast in SQL ($1::text::bigint[]).

Why not asyncpg's array parameters: its encoder inspects every element for nested arrays
(isinstance checks against collections.abc), which cost about 0.6 µs an element, 30 µs a
purchase; building the literal with str.join costs a tenth of that, and PostgreSQL parses it
about as fast as the binary form (loadtest/commit_bench.py measures both).

Quoting (PostgreSQL manual, "Array Value Input"): numbers and dates need none; every text
element is double-quoted, with '"' and '\\' escaped by a backslash, so any content (spaces,
commas, braces, the word NULL) survives; None is the unquoted NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime


def int_array(values: Sequence[int | None]) -> str:
    text = ",".join(map(str, values))
    if "N" in text:   # only from None: integers print as digits and '-'
        text = ",".join("NULL" if value is None else str(value) for value in values)
    return "{" + text + "}"


def date_array(values: Sequence[date]) -> str:
    return "{" + ",".join(map(date.isoformat, values)) + "}"


def text_array(values: Sequence[str | None]) -> str:
    if not values:
        return "{}"
    try:
        joined = '","'.join(values)   # type: ignore[arg-type]  # TypeError on a None
    except TypeError:
        return "{" + ",".join(_quoted(value) for value in values) + "}"
    if "\\" in joined or joined.count('"') != 2 * (len(values) - 1):
        return "{" + ",".join(_quoted(value) for value in values) + "}"
    return '{"' + joined + '"}'


def timestamp_array(values: Sequence[datetime | None]) -> str:
    """ISO 8601 in UTC with its offset, read the same under any DateStyle and TimeZone; a
    naive datetime counts as local time, as asyncpg's own encoder takes it."""
    return text_array([None if value is None else value.astimezone(UTC).isoformat()
                       for value in values])


def bytea_array(values: Sequence[bytes]) -> str:
    # bytea's hex input '\x0a1b', its backslash escaped inside the quoted element
    return "{" + ",".join([f'"\\\\x{value.hex()}"' for value in values]) + "}"


def nullable_bytea_array(values: Sequence[bytes | None]) -> str:
    return "{" + ",".join(["NULL" if value is None else f'"\\\\x{value.hex()}"'
                           for value in values]) + "}"


def _quoted(value: str | None) -> str:
    if value is None:
        return "NULL"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
