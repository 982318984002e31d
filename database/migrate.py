"""Bring a database's schema up to date from the SQL files in `migrations/`.

Files apply in lexical order of their names, each once, each in its own transaction together
with its row in `schema_migrations`, so a failed file leaves no trace. Migrators of one
database serialise on an advisory lock, so `jifen up` and a test run may both migrate. All
checks come before any write: an applied file whose content changed, or an applied version
this code does not have (the database is newer than the code), stops the run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import anyio
import asyncpg
import msgspec

from database.connect import connect, redact_url
from database.errors import MigrationError

MIGRATIONS_DIR_ENV = "JIFEN_MIGRATIONS_DIR"
# Any fixed 64-bit key; this one spells "jifenmig". Advisory locks are per database.
MIGRATION_LOCK_KEY = int.from_bytes(b"jifenmig", "big")
# Waiting for the advisory lock (another migrator) or a table lock (a long transaction):
# fail with a clear error rather than hang, and rather than queue DDL in front of traffic.
LOCK_WAIT_S_MAX = 60
CONNECT_TIMEOUT_S = 10.0
# A file that lost a race for a shared catalog row (_apply) is tried this many times in all,
# after a growing pause.
CATALOG_RACE_ATTEMPTS = 5
CATALOG_RACE_BACKOFF_S = 0.05
# A migration's data step: Python run after its SQL, in the same transaction, for what SQL
# cannot do (converting rows with keys the database must not have). While it runs the session
# setting `jifen.data_step` names the migration, so the SQL can tell whether one will follow.
DataStep = Callable[[asyncpg.Connection], Awaitable[None]]
DATA_STEP_SETTING = "jifen.data_step"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class Migration(msgspec.Struct, frozen=True):
    version: str  # the file name without .sql, e.g. "001_core"
    checksum: str  # sha256 of the file's bytes, hex
    sql: str


def default_migrations_dir() -> Path:
    configured = os.environ.get(MIGRATIONS_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1] / "migrations"


def load_migrations(migrations_dir: Path) -> list[Migration]:
    if not migrations_dir.is_dir():
        raise MigrationError(f"migrations directory {migrations_dir} not found")
    migrations = []
    for path in sorted(migrations_dir.glob("*.sql")):
        data = path.read_bytes()
        try:
            sql = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MigrationError(f"{path} is not UTF-8: {exc}") from exc
        checksum = hashlib.sha256(data).hexdigest()
        migrations.append(Migration(version=path.stem, checksum=checksum, sql=sql))
    return migrations


async def migrate(
    url: str, migrations_dir: Path | None = None, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
    data_steps: Mapping[str, DataStep] | None = None,
) -> list[str]:
    """Apply the pending migrations; the versions applied by this call, in order.

    `data_steps` (version -> step) come from a caller that holds what they need (the KEK):
    `back_office.data_migrations`. A migration whose SQL needs its step refuses to run without
    it."""
    migrations = load_migrations(migrations_dir or default_migrations_dir())
    connection = await connect(url, connect_timeout_s)
    try:
        await connection.execute(f"SET lock_timeout = '{LOCK_WAIT_S_MAX}s'")
        await _lock(connection, url)
        await connection.execute(_CREATE_TABLE)
        rows = await connection.fetch("SELECT version, checksum FROM schema_migrations")
        applied = {row["version"]: row["checksum"] for row in rows}
        _check_applied(applied, migrations)
        pending = [migration for migration in migrations if migration.version not in applied]
        for migration in pending:
            await _apply(connection, migration, (data_steps or {}).get(migration.version))
        return [migration.version for migration in pending]
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise MigrationError(f"migrating {redact_url(url)} failed: {exc}") from exc
    finally:
        await connection.close()  # also releases the session's advisory lock


async def _lock(connection: asyncpg.Connection, url: str) -> None:
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    except asyncpg.LockNotAvailableError as exc:
        raise MigrationError(
            f"another migrator of {redact_url(url)} held the lock for {LOCK_WAIT_S_MAX} s"
        ) from exc


def _check_applied(applied: dict[str, str], migrations: list[Migration]) -> None:
    known = {migration.version: migration.checksum for migration in migrations}
    for version, checksum in sorted(applied.items()):
        if version not in known:
            raise MigrationError(
                f"the database has migration {version}, which this code does not know"
            )
        if known[version] != checksum:
            raise MigrationError(
                f"migration {version} changed after it was applied; add a new migration"
                " instead of editing an applied one"
            )


async def _apply(
    connection: asyncpg.Connection, migration: Migration, data_step: DataStep | None,
) -> None:
    """One file in its own transaction, tried again when it lost a race for a shared catalog
    row: roles and their grants are the server's, not a database's, so migrators of two
    databases on one server (the advisory lock is per database) may both grant on one role
    at once, and PostgreSQL fails one with "tuple concurrently updated". The failed
    transaction left nothing, so trying again is safe."""
    for attempt in range(1, CATALOG_RACE_ATTEMPTS + 1):
        try:
            await _apply_once(connection, migration, data_step)
            return
        except MigrationError as exc:
            if attempt == CATALOG_RACE_ATTEMPTS or not _lost_catalog_race(exc.__cause__):
                raise
            await anyio.sleep(CATALOG_RACE_BACKOFF_S * attempt)


def _lost_catalog_race(exc: BaseException | None) -> bool:
    return isinstance(exc, asyncpg.PostgresError) and (
        exc.sqlstate in ("40001", "40P01")
        or (exc.sqlstate == "XX000" and "tuple concurrently updated" in str(exc)))


async def _apply_once(
    connection: asyncpg.Connection, migration: Migration, data_step: DataStep | None,
) -> None:
    try:
        async with connection.transaction():
            if data_step is not None:
                await connection.execute(
                    "SELECT set_config($1, $2, true)", DATA_STEP_SETTING, migration.version)
            await connection.execute(migration.sql)
            if data_step is not None:
                await data_step(connection)
                await connection.execute(
                    "SELECT set_config($1, '', true)", DATA_STEP_SETTING)
            await connection.execute(
                "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                migration.version,
                migration.checksum,
            )
    except asyncpg.PostgresError as exc:
        raise MigrationError(f"migration {migration.version} failed: {exc}") from exc
