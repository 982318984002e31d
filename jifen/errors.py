"""Errors of the command line, and how the errors of the packages beneath it reach the operator.

    CliError        a command's own check of its arguments: a clear message, exit code 2

The packages beneath the CLI raise their own errors, which carry no exit codes; `exit_code_of`
maps each one the operator must read to the code `jifen` exits with.
"""

from __future__ import annotations

from back_office.operators.errors import OperatorError
from back_office.provisioning.errors import ProvisioningError
from back_office.purchase_imports.errors import PurchaseImportError
from back_office.queries.errors import QueryError
from clearing.errors import ClearingError
from database.errors import DatabaseError
from loadtest.errors import LoadtestError
from notifications.errors import NotifyError
from proto.errors import LinkTlsError
from proto.keys.errors import KeyStoreError
from runtime.errors import ConfigError, PkiError


class CliError(Exception):
    pass


# Printed as one line `jifen: error: ...`, never as a traceback.
OPERATOR_ERRORS: tuple[type[Exception], ...] = (
    CliError, ConfigError, DatabaseError, ProvisioningError, OperatorError, ClearingError,
    LoadtestError, PkiError, LinkTlsError, KeyStoreError, QueryError, PurchaseImportError,
    NotifyError,
)
# A refused clearing exits 1, as docs/clearing.md says (nothing was written); every other
# refusal exits 2.
_EXIT_CODES: tuple[tuple[type[Exception], int], ...] = ((ClearingError, 1),)
EXIT_CODE_DEFAULT = 2


def exit_code_of(exc: Exception) -> int:
    for error_class, code in _EXIT_CODES:
        if isinstance(exc, error_class):
            return code
    return EXIT_CODE_DEFAULT
