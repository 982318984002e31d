"""Errors of the database layer; the CLI prints them as clear messages (exit 2).

    DatabaseError                    anything the database layer could not do
    ├── EmbeddedServerError       the embedded server failed to set up, start or stop
    ├── DatabaseUnavailableError  no connection: refused, timed out, no database, auth
    ├── PasswordFileError         a service's password file is missing, unreadable or too open
    ├── MigrationError            the schema could not be brought up to date
    ├── BackupError               no backup to restore, a target before it, a busy server
    └── PartitionError            a partition's database: not configured, not reachable as
                                  one, or its replication not set up (partitions.py)
"""


class DatabaseError(Exception):
    pass


class EmbeddedServerError(DatabaseError):
    pass


class DatabaseUnavailableError(DatabaseError):
    pass


class PasswordFileError(DatabaseError):
    pass


class MigrationError(DatabaseError):
    pass


class BackupError(DatabaseError):
    pass


class PartitionError(DatabaseError):
    pass
