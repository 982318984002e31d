"""Errors of clearing: each is a clear message for the operator.

    ClearingError                   clearing refused; nothing was written (exit 1)
    ├── UnknownError            the alliance, merchant or date named does not exist
    ├── DayOpenError            the date is still the open business date (or later)
    ├── AlreadySealedError      close-day of a date sealed before
    ├── NotSealedError          a run of a date not sealed yet
    ├── AlreadyClearedError     a run of a date cleared before (corrections: adjust)
    ├── NotClearedError         adjust or verify of a date never cleared
    └── PartitionUnreachableError  a partition not configured or not answering: clearing
                                reads every partition or none (no partial clearing)
"""


class ClearingError(Exception):
    pass


class UnknownError(ClearingError):
    pass


class DayOpenError(ClearingError):
    pass


class AlreadySealedError(ClearingError):
    pass


class NotSealedError(ClearingError):
    pass


class AlreadyClearedError(ClearingError):
    pass


class NotClearedError(ClearingError):
    pass


class PartitionUnreachableError(ClearingError):
    pass
