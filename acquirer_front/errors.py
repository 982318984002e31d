"""Errors of the acquirer front.

    FrontError                      the front cannot run
    └── DatabaseUnavailableError    no database at start: the registry or the sign-on store

Everything about one request is a typed result instead (a `ResponseCode`), and everything
about one connection (framing errors, timeouts, a peer that hangs up) closes that connection
and is counted, never raised past it: see `connection.CloseReason`.
"""


class FrontError(Exception):
    pass


class DatabaseUnavailableError(FrontError):
    pass
