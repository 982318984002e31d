"""Fixtures shared by all tests, one section per concern; add new sections at the end.

PostgreSQL in tests: ask for `database_url`, a fresh, migrated database of its own for each
test (dropped afterwards); sync and anyio tests alike can use it.
"""

from __future__ import annotations

import functools
import os
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest

from back_office.data_migrations import publish_front_key
from database import EmbeddedPostgres, connect, migrate, with_database
from database.postmaster import pid_exists
from database.roles import Role
from proto.keys import load_kek

REPO_DIR = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------------------------
# Async backend: asyncio only, because asyncpg needs it; on uvloop, as the services run.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def anyio_backend() -> tuple[str, dict[str, bool]]:
    return "asyncio", {"use_uvloop": True}


# --------------------------------------------------------------------------------------------
# PostgreSQL: one server per session, one migrated template per session, one database per test.
#
# $JIFEN_DATABASE_URL, when set, names the server; its role must be allowed to CREATE DATABASE.
# Without it the server is an embedded one under var/test-pg (gitignored; $JIFEN_TEST_PG_DIR
# moves it, for the test of this very rule): initdb costs about 0.7 s on a fresh clone, a start
# 0.12 s. The session that started it stops it at its end, so that nothing is left running
# behind a person's back, unless:
#   - $JIFEN_TEST_KEEP_DB=1 asks to keep it (repeated local runs save the start);
#   - it was running when the session began (a person's, or another run's: leave it be);
#   - another session still uses it (its jifen_template_<pid> database exists and that pid
#     runs): stopping it under a concurrent run would break that run.
# Stop a kept one with:
#     python -c "from database import EmbeddedPostgres as E; E('var/test-pg').stop()"
# A test's own database is a copy of the template: about 0.15-0.35 s to create and drop.
# --------------------------------------------------------------------------------------------

TEST_DATA_DIR = Path(os.environ.get("JIFEN_TEST_PG_DIR") or REPO_DIR / "var" / "test-pg")
KEEP_DB_VARIABLE = "JIFEN_TEST_KEEP_DB"
TEMPLATE_PREFIX = "jifen_template_"
# Creating or dropping a database, or migrating the template: well under a second here.
SQL_TIMEOUT_S = 30.0

T = TypeVar("T")


def _run_async(func: Callable[..., Awaitable[T]], *args: object) -> T:
    """Run `func(*args)` on a private event loop in a private thread.

    A sync fixture may be set up while an anyio test runner owns this thread's event loop;
    anyio.run here would replace and then clear that loop.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(functools.partial(anyio.run, func, *args, backend="asyncio")).result()


def _execute_sql(url: str, *statements: str) -> None:
    """Run statements one by one on a new connection (CREATE DATABASE cannot share one)."""

    async def execute() -> None:
        with anyio.fail_after(SQL_TIMEOUT_S):
            connection = await connect(url, SQL_TIMEOUT_S)
            try:
                for statement in statements:
                    await connection.execute(statement)
            finally:
                await connection.close()

    _run_async(execute)


@pytest.fixture(scope="session")
def run_async() -> Callable[..., object]:
    """`run_async(func, *args)`: an async function's result, from a sync test or fixture."""
    return _run_async


@pytest.fixture(scope="session")
def execute_sql() -> Callable[..., None]:
    """`execute_sql(url, *statements)`: statements run in order on a new connection."""
    return _execute_sql


@pytest.fixture(scope="session")
def postgres_server_url(pytestconfig: pytest.Config) -> Iterator[str]:
    """A superuser's URL on the test server: $JIFEN_DATABASE_URL, else the embedded one,
    stopped at the end of the session when this session started it (see above)."""
    url = os.environ.get("JIFEN_DATABASE_URL")
    if url:
        yield url
        return
    server = EmbeddedPostgres(TEST_DATA_DIR)
    if _is_xdist_worker(pytestconfig):
        # One of several workers: whichever asks first starts it (under the data directory's
        # lock), and the controller decides at its end (pytest_sessionfinish below).
        yield server.ensure_running()
        return
    was_running = server.is_running()
    url = server.ensure_running()
    yield url
    _stop_unless_kept(server, was_running)


def _stop_unless_kept(server: EmbeddedPostgres, was_running: bool) -> None:
    if was_running or os.environ.get(KEEP_DB_VARIABLE) == "1" or not server.is_running():
        return
    if _other_sessions(server.dsn()):
        return
    server.stop()


# Under pytest-xdist (`-n 2` in pyproject.toml's addopts) each worker is a session of its own,
# with its own template (named by the worker's pid), and the controller, which runs no test,
# owns the server's lifetime: it notes at its start whether the server was running, and at its
# end, after every worker has dropped its template, applies the same rule as a lone session.
_SERVER_WAS_RUNNING = pytest.StashKey[bool]()


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not _is_xdist_worker(config) and getattr(config.option, "dist", "no") != "no"


def pytest_sessionstart(session: pytest.Session) -> None:
    if _is_xdist_controller(session.config) and not os.environ.get("JIFEN_DATABASE_URL"):
        session.config.stash[_SERVER_WAS_RUNNING] = EmbeddedPostgres(TEST_DATA_DIR).is_running()


def pytest_sessionfinish(session: pytest.Session) -> None:
    was_running = session.config.stash.get(_SERVER_WAS_RUNNING, None)
    if was_running is not None:
        _stop_unless_kept(EmbeddedPostgres(TEST_DATA_DIR), was_running)


def _other_sessions(url: str) -> list[int]:
    """The pids of other live test sessions on the server (by their template databases)."""

    async def templates() -> list[str]:
        with anyio.fail_after(SQL_TIMEOUT_S):
            connection = await connect(url, SQL_TIMEOUT_S)
            try:
                rows = await connection.fetch(
                    "SELECT datname FROM pg_database WHERE datname LIKE $1", TEMPLATE_PREFIX + "%")
            finally:
                await connection.close()
        return [row["datname"] for row in rows]

    pids = []
    for name in _run_async(templates):
        pid = name.removeprefix(TEMPLATE_PREFIX)
        if pid.isdigit() and int(pid) != os.getpid() and pid_exists(int(pid)):
            pids.append(int(pid))
    return pids



@pytest.fixture(scope="session")
def template_database(postgres_server_url: str) -> Iterator[str]:
    """The name of a database migrated once per session, which test databases copy."""
    name = f"{TEMPLATE_PREFIX}{os.getpid()}"
    _execute_sql(
        postgres_server_url,
        f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
        f"CREATE DATABASE {name}",
    )
    _run_async(_migrate_template, postgres_server_url, name)
    yield name
    _execute_sql(postgres_server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# The migrations change roles, which all databases of the server share: two sessions
# migrating at once (the pytest-xdist workers, as they start) fail with "tuple concurrently
# updated". A session-level advisory lock on the server's own database takes turns.
TEMPLATE_LOCK_KEY = 0x6A6966656E  # "jifen"
# Another session's migrations: a few seconds on a loaded 2-core machine.
TEMPLATE_LOCK_WAIT_S = 120.0


async def _migrate_template(server_url: str, name: str) -> None:
    url = with_database(server_url, name)
    connection = await connect(server_url, SQL_TIMEOUT_S)
    try:
        with anyio.fail_after(TEMPLATE_LOCK_WAIT_S):
            await connection.execute("SELECT pg_advisory_lock($1)", TEMPLATE_LOCK_KEY)
        await migrate(url)
        # As `jifen db migrate` does: the front's key pair (under the tests' KEK), whose
        # public key the back office seals TMKs to.
        await publish_front_key(url, load_kek())
    finally:
        await connection.close()  # and with it the lock


@pytest.fixture
def database_url(postgres_server_url: str, template_database: str) -> Iterator[str]:
    """A fresh database with the full schema, for this test alone."""
    name = f"jifen_test_{uuid.uuid4().hex}"
    _execute_sql(postgres_server_url, f"CREATE DATABASE {name} TEMPLATE {template_database}")
    yield with_database(postgres_server_url, name)
    _execute_sql(postgres_server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def empty_database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database with no schema at all (for migration tests)."""
    name = f"jifen_test_{uuid.uuid4().hex}"
    _execute_sql(postgres_server_url, f"CREATE DATABASE {name}")
    yield with_database(postgres_server_url, name)
    _execute_sql(postgres_server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def split(
    postgres_server_url: str, database_url: str, monkeypatch: pytest.MonkeyPatch,
) -> Iterator[object]:
    """A day of business split over two partitions (`tests.partition_day.SplitDay`)."""
    from tests.partition_day import drop_split, make_split

    monkeypatch.delenv("JIFEN_DATABASE_URL", raising=False)
    day = _run_async(make_split, postgres_server_url, database_url)
    yield day
    _run_async(drop_split, postgres_server_url, day)


# --------------------------------------------------------------------------------------------
# The links' mutual TLS: one PKI (CA, front, switch, host) per session, in a temporary
# directory; harnesses take it from tests.pki_kit.session_pki() themselves.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pki() -> Path:
    from tests.pki_kit import session_pki

    return session_pki()


# --------------------------------------------------------------------------------------------
# Roles (migrations/006_roles.sql): a login of a service's role on this test's database.
# --------------------------------------------------------------------------------------------


@pytest.fixture
def role_url(database_url: str) -> Iterator[Callable[[Role], str]]:
    """`role_url(Role.HOST)`: the URL of this test's database for a login role made for this
    test alone (a member of the role, with a random password), dropped afterwards."""
    made: list[str] = []
    parts = urlsplit(database_url)

    def make(role: Role) -> str:
        name = f"{role.value}_t{uuid.uuid4().hex[:12]}"
        password = secrets.token_urlsafe(24)
        _execute_sql(database_url, f"CREATE ROLE {name} LOGIN PASSWORD '{password}'"
                                   f" IN ROLE {role.value}")
        made.append(name)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{name}:{password}@{host}"))

    yield make
    for name in made:
        _execute_sql(database_url, f"DROP ROLE IF EXISTS {name}")
