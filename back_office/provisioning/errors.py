"""Errors of provisioning: each is a clear message for the operator (exit code 2).

    ProvisioningError               the change was refused; nothing was written
    ├── InvalidValueError       a code, length, key, date or rate is malformed
    ├── NotFoundError           the alliance, merchant or terminal named does not exist
    ├── DuplicateError          the code is already taken
    ├── ConflictError           the change contradicts what exists (overlapping card ranges)
    ├── CardSpaceError          the BIN leaves too few free card numbers for the request
    └── PartitionWriteError     another partition's database could not be written (a risk
                                review's decision: back_office/partition_writes.py)
"""


class ProvisioningError(Exception):
    pass


class InvalidValueError(ProvisioningError):
    pass


class NotFoundError(ProvisioningError):
    pass


class DuplicateError(ProvisioningError):
    pass


class ConflictError(ProvisioningError):
    pass


class CardSpaceError(ProvisioningError):
    pass


class PartitionWriteError(ProvisioningError):
    pass
