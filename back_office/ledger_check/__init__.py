"""`jifen audit`: checks that the journal balances and that the business records are sound.

Read-only and set-based: every check is one SELECT over whole tables inside one REPEATABLE
READ READ ONLY transaction, so it can run beside a live host. The checks, one module per group:
journal.py (entries sum to zero, postings in their entry's ledger), balances.py (balance =
sum of postings, no negative stored value), references.py (every reference between journal
rows names an existing row: the hot tables have no foreign keys), originals.py (reversals and
returns have an original, one reversal per original, returns within the original amount),
idempotency.py (one transaction per idempotency key within 7 days), terminals.py (every
transaction's terminal is registered and belongs to the transaction's merchant). Beside the
checks, a figure: each alliance's points liability from its members' postings (liability.py).

With partitions, partitioned.py runs every check on each partition's database (targets.py finds
them) and then the checks across partitions of partitions.py, in the same snapshots.
"""

from back_office.ledger_check.check import Check
from back_office.ledger_check.errors import AuditDatabaseError, AuditError, AuditTimeoutError
from back_office.ledger_check.result import (
    AuditReport,
    CheckResult,
    PointsLiability,
    RowCounts,
    Violation,
)
from back_office.ledger_check.runner import CHECKS, audit_connection, audit_database

__all__ = [
    "CHECKS", "AuditDatabaseError", "AuditError", "AuditReport", "AuditTimeoutError", "Check",
    "CheckResult", "PointsLiability", "RowCounts", "Violation", "audit_connection",
    "audit_database",
]
