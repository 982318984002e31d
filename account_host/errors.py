"""Errors of the account host. Business outcomes (a lost card, an unknown processing code) are
answers with a ResponseCode, never exceptions; these are for the database under the host.

    HostError
    └── HostDatabaseError     PostgreSQL could not be reached or did not do what was asked
        ├── StateLoadError    the in-memory state could not be read (at start or after a failure)
        ├── ReservationError  identifier blocks could not be reserved in host_counters
        └── CommitError       a batch was not made durable: failed, timed out, connection lost

The writer answers 96 for a batch that ends in any HostDatabaseError and rebuilds its state;
the service never stops on one.
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
