"""Operators and their rights (docs/back-office.md).

An operator is a person at the back office: a PostgreSQL login role of its own name, member
of one operator role's group (`roles.py`); `rights.py` is the one table of which role may run
which command; `accounts.py` creates and manages operators; `passwords.py` reads an
operator's password from a private file and turns it into a SCRAM verifier.
"""

from back_office.operators.accounts import (
    Operator,
    create_operator,
    current_operator,
    find_operator,
    list_operators,
    operator_name,
    set_operator_active,
    set_operator_password,
)
from back_office.operators.errors import (
    OperatorError,
    OperatorLoginError,
    OperatorNotFoundError,
    OperatorPasswordError,
    RightRefusedError,
)
from back_office.operators.passwords import (
    check_password,
    generate_password,
    read_password_file,
    scram_verifier,
    write_password_csv,
)
from back_office.operators.rights import (
    COMMAND_RIGHTS,
    check_password_change,
    check_right,
    is_operator_command,
)
from back_office.operators.roles import OperatorRole

__all__ = [
    "COMMAND_RIGHTS", "Operator", "OperatorError", "OperatorLoginError",
    "OperatorNotFoundError", "OperatorPasswordError", "OperatorRole", "RightRefusedError",
    "check_password", "check_password_change", "check_right", "create_operator",
    "current_operator", "find_operator", "generate_password", "is_operator_command",
    "list_operators", "operator_name", "read_password_file", "scram_verifier",
    "set_operator_active", "set_operator_password", "write_password_csv",
]
