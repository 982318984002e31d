"""Errors of the account host. Business outcomes (a lost card, an unknown processing code) are
answers with a ResponseCode, never exceptions; these are for the database under the host.

    HostError
    └── HostDatabaseError     PostgreSQL could not be reached or did not do what was asked
        ├── StateLoadError    the in-memory state could not be read (at start or after a failure)
        ├── ReservationError  identifier blocks could not be reserved in host_counters
        └── CommitError       a batch was not made durable: failed, timed out, connection lost

The writer rebuilds its state after any HostDatabaseError and answers 96 for a batch that did
not land; the service never stops on one. A broken invariant is an AssertionError, never one of
these: nothing catches it, and the host process ends (the supervisor restarts it).
"""


class HostError(Exception):
    pass


class HostDatabaseError(HostError):
    pass


class StateLoadError(HostDatabaseError):
    pass


class ReservationError(HostDatabaseError):
    pass


class CommitError(HostDatabaseError):
    pass
