"""Which database to use, and opening a connection to it.

A configured URL (the file's `database.url` or $JIFEN_DATABASE_URL) wins; without one, Jifen
uses database APPLICATION_DATABASE on its embedded server under `database.data_dir`.

A service asks for its role's URL: the configured one (`database.host_url`, ...), with the
password of its password file if it has one (`database.host_password_file`, ...: a systemd
credential under the units), else, on the embedded server, its login role's (created with a
generated password on first use), else the administrator's `database.url` (so that a single
URL, as in tests, still runs everything).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from database.backup import wal_archive_dir
from database.config import DatabaseConfig
from database.embedded import EmbeddedPostgres
from database.errors import DatabaseUnavailableError
from database.passwords import read_password_file
from database.roles import Role

APPLICATION_DATABASE = "jifen"


def resolve_database_url(config: DatabaseConfig, role: Role | None = None) -> str:
    """The URL to connect with: the administrator's when `role` is None, else the role's
    (see above). The embedded server is started and given the database if needed."""
    if role is not None:
        own_url = config.url_of(role)
        password_file = config.password_file_of(role)
        if own_url and password_file:
            return with_password(own_url, read_password_file(password_file))
        if own_url:
            return own_url
    if config.url:
        return config.url
    server = embedded_server(config)
    if role is None:
        return server.ensure_database(APPLICATION_DATABASE)
    return server.ensure_login(role, APPLICATION_DATABASE)


def embedded_server(config: DatabaseConfig) -> EmbeddedPostgres:
    """The embedded server of `config`, archiving its WAL under `backup_dir` if asked: every
    process that may start it must build it here, so that all start it alike."""
    archive = wal_archive_dir(Path(config.backup_dir)) if config.archive_wal else None
    return EmbeddedPostgres(config.data_dir, archive)


async def connect(url: str, timeout_s: float) -> asyncpg.Connection:
    """Open a connection within `timeout_s`; any failure is a DatabaseUnavailableError."""
    try:
        return await asyncpg.connect(url, timeout=timeout_s)
    except TimeoutError as exc:
        raise DatabaseUnavailableError(
            f"no connection to {redact_url(url)} within {timeout_s:g} s"
        ) from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ValueError) as exc:
        raise DatabaseUnavailableError(f"cannot connect to {redact_url(url)}: {exc}") from exc


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def with_password(url: str, password: str) -> str:
    """The same URL with `password` (quoted: asyncpg unquotes it) for its user."""
    parts = urlsplit(url)
    assert parts.password is None and parts.username, "a URL with a user and no password"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{quote(password, safe='')}@{host}"))


def redact_url(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))
