"""The database layer: the embedded PostgreSQL server, connecting, schema migrations, and
scratch databases."""

from database.connect import (
    APPLICATION_DATABASE,
    connect,
    embedded_server,
    redact_url,
    resolve_database_url,
    with_database,
)
from database.embedded import EmbeddedPostgres, ServerStatus
from database.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    EmbeddedServerError,
    MigrationError,
)
from database.migrate import default_migrations_dir, migrate
from database.scratch import fresh_database

__all__ = [
    "APPLICATION_DATABASE",
    "DatabaseError",
    "DatabaseUnavailableError",
    "EmbeddedPostgres",
    "EmbeddedServerError",
    "MigrationError",
    "ServerStatus",
    "connect",
    "embedded_server",
    "default_migrations_dir",
    "fresh_database",
    "migrate",
    "redact_url",
    "resolve_database_url",
    "with_database",
]
