"""The shape of one audit check: a named set-based query that returns the violating rows.

A check's query returns one row per violation: columns whose names end in `_id` (or `key`)
name the rows involved, and a text column `detail` says what is wrong. It must be a single
SELECT over whole tables (no per-row round trips), so that the audit stays linear in the size
of the journal.

With partitions (docs/plans/partitions.md §2) every check runs on each partition's database,
which holds its own journal beside central's reference data. A check that reads only central's
rows (host_commands, say) would find the same thing in every partition: it is `central_only`.
A check that must know which partition it reads takes it from the transaction's settings
`jifen.partition_name` and `jifen.partition_number` (PARTITION_NAME_SQL, PARTITION_NUMBER_SQL),
which the runner sets; unset (one database, as before partitions) they are central's.
"""

from __future__ import annotations

import msgspec

# The partition a check reads: its name (NULL: the one database there is, central) and number.
PARTITION_NAME_SQL = "nullif(current_setting('jifen.partition_name', true), '')"
PARTITION_NUMBER_SQL = (
    "coalesce(nullif(current_setting('jifen.partition_number', true), '')::integer, 0)")
# A row id's partition: its host's counters start at the partition's number << 48 (step 1).
PARTITION_ID_SHIFT = 48


class Check(msgspec.Struct, frozen=True):
    name: str           # stable, for scripts: e.g. "entry_unbalanced"
    description: str    # the invariant, for people
    sql: str            # SELECT <ids...>, <detail text> AS detail FROM ...
    central_only: bool = False   # reads central's rows only: run on central, not per partition
