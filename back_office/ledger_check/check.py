"""The shape of one audit check: a named set-based query that returns the violating rows.

A check's query returns one row per violation: columns whose names end in `_id` (or `key`)
name the rows involved, and a text column `detail` says what is wrong. It must be a single
SELECT over whole tables (no per-row round trips), so that the audit stays linear in the size
of the journal.
"""

from __future__ import annotations

import msgspec


class Check(msgspec.Struct, frozen=True):
    name: str           # stable, for scripts: e.g. "entry_unbalanced"
    description: str    # the invariant, for people
    sql: str            # SELECT <ids...>, <detail text> AS detail FROM ...
