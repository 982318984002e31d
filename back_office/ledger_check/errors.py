"""Errors of the audit. Violations are results (AuditReport), never exceptions; these are for
a database the audit could not read.

    AuditError
    ├── AuditDatabaseError   PostgreSQL could not be reached or refused a query
    └── AuditTimeoutError    the checks did not finish within the time given
"""


class AuditError(Exception):
    pass


class AuditDatabaseError(AuditError):
    pass


class AuditTimeoutError(AuditError):
    pass
