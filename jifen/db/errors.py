"""Errors of the database layer; the CLI prints them as clear messages.

    CliError (jifen.errors)
    └── DatabaseError                 anything the database layer could not do
        ├── EmbeddedServerError       the embedded server failed to set up, start or stop
        ├── DatabaseUnavailableError  no connection: refused, timed out, no database, auth
        └── MigrationError            the schema could not be brought up to date
"""

from jifen.errors import CliError


class DatabaseError(CliError):
    pass


class EmbeddedServerError(DatabaseError):
    pass


class DatabaseUnavailableError(DatabaseError):
    pass


class MigrationError(DatabaseError):
    pass
