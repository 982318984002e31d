"""The retransmission key: which requests are the same request (host interface §4, order of
checks: retransmission).

A terminal that gets no answer sends the same request again with the same field 41 (terminal),
MTI, field 11 (STAN) and field 7 (transmission time); a reversal names its original by the
same MTI, 11 and 7 in field 90. The host keys its retransmission window, its reversal
tombstones and their rows in PostgreSQL by this key; `key_sql` spells it for a query, so that
the window loaded at start is keyed exactly as the requests that look it up.
"""

from __future__ import annotations

KEY_COLUMNS = ("terminal_code", "mti", "stan", "transmission_time")
_SEPARATOR = "|"


def retransmission_key(terminal_code: str, mti: str, stan: str, transmission_time: str) -> str:
    return f"{terminal_code}{_SEPARATOR}{mti}{_SEPARATOR}{stan}{_SEPARATOR}{transmission_time}"


def key_sql(table_alias: str | None = None) -> str:
    """The key as a SQL expression over KEY_COLUMNS (of `table_alias`, if given)."""
    prefix = f"{table_alias}." if table_alias else ""
    return f" || '{_SEPARATOR}' || ".join(prefix + column for column in KEY_COLUMNS)
