"""The audit trail: one append-only row per back-office change (migration 011, `audit_log`).

`record` writes a row in the caller's transaction, so the row exists exactly when the change
does; `find_entries` reads them for `jifen audit-log`. What goes in is masked first
(`masking.py`): a card is its masked PAN; keys and passwords never appear.
"""

from back_office.audit_trail.entries import (
    AUDIT_LOG_LIMIT_MAX,
    AuditEntry,
    AuditFilter,
    find_entries,
    record,
)
from back_office.audit_trail.masking import mask_fields

__all__ = [
    "AUDIT_LOG_LIMIT_MAX", "AuditEntry", "AuditFilter", "find_entries", "mask_fields", "record",
]
