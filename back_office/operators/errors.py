"""Errors of operators and their rights: each a clear message for the operator (exit code 2).

    OperatorError                   refused; nothing was written
    ├── RightRefusedError       the operator's role lacks the right a command needs
    ├── OperatorPasswordError   a password (or its file) is unusable: too short, readable by
    │                           others, several lines
    ├── OperatorLoginError      the database refused the operator's login (wrong password,
    │                           disabled, unknown)
    └── OperatorNotFoundError   no such operator, or a login that is no operator
"""


class OperatorError(Exception):
    pass


class RightRefusedError(OperatorError):
    pass


class OperatorPasswordError(OperatorError):
    pass


class OperatorLoginError(OperatorError):
    pass


class OperatorNotFoundError(OperatorError):
    pass
