"""The database layer: the embedded PostgreSQL server, connecting, and schema migrations."""

from jifen.db.connect import (
    APPLICATION_DATABASE,
    connect,
    redact_url,
    resolve_database_url,
    with_database,
)
from jifen.db.embedded import EmbeddedPostgres, ServerStatus
from jifen.db.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    EmbeddedServerError,
    MigrationError,
)
from jifen.db.migrate import default_migrations_dir, migrate

__all__ = [
    "APPLICATION_DATABASE",
    "DatabaseError",
    "DatabaseUnavailableError",
    "EmbeddedPostgres",
    "EmbeddedServerError",
    "MigrationError",
    "ServerStatus",
    "connect",
    "default_migrations_dir",
    "migrate",
    "redact_url",
    "resolve_database_url",
    "with_database",
]
