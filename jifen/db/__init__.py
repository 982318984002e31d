"""The database layer: the embedded PostgreSQL server, connecting, schema migrations, and
scratch databases."""

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
from jifen.db.scratch import fresh_database

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
    "fresh_database",
    "migrate",
    "redact_url",
    "resolve_database_url",
    "with_database",
]
