"""Errors of the acquirer front.

    FrontError                      the front cannot run
    └── DatabaseUnavailableError    no database at start: the registry or the sign-on store

Everything about one request is a typed result instead (a `ResponseCode`), and everything
about one connection (framing errors, timeouts, a peer that hangs up) closes that connection
and is counted, never raised past it: see `connection.CloseReason`. Anything else raised while
serving (an AssertionError, a TypeError) is a bug: nothing swallows it, and it ends the front.
"""

import asyncpg

# What a lost or restarting database raises through asyncpg (InternalClientError too: a
# connection cut mid-operation can report "another operation is in progress"). Callers catch
# these, log and retry or degrade; they never end the front.
DATABASE_ERRORS = (
    OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


class FrontError(Exception):
    pass


class DatabaseUnavailableError(FrontError):
    pass
