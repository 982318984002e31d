"""migrate() on real databases: a fresh one per test, from the session's template."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest

from database import MigrationError, connect, default_migrations_dir, migrate
from database.connect import redact_url
from jifen.cli import main

CORE = default_migrations_dir() / "001_core.sql"
# Every migration of the repository, in the order they apply.
ALL = [path.stem for path in sorted(default_migrations_dir().glob("*.sql"))]


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    """A copy of the real migrations that a test may change."""
    copy = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), copy)
    return copy


async def fetch_values(url: str, query: str) -> list[object]:
    connection = await connect(url, timeout_s=10)
    try:
        return [row[0] for row in await connection.fetch(query)]
    finally:
        await connection.close()


@pytest.mark.anyio
class TestMigrate:
    async def test_applies_each_file_once(self, empty_database_url):
        assert await migrate(empty_database_url) == ALL
        assert await migrate(empty_database_url) == []
        rows = await fetch_values(
            empty_database_url,
            "SELECT version || ' ' || checksum FROM schema_migrations ORDER BY version",
        )
        assert rows[0] == f"001_core {hashlib.sha256(CORE.read_bytes()).hexdigest()}"
        assert len(rows) == len(ALL)
        assert await fetch_values(empty_database_url, "SELECT count(*) FROM alliances") == [0]

    async def test_template_copies_are_up_to_date(self, database_url):
        assert await migrate(database_url) == []

    async def test_concurrent_migrators_apply_once(self, empty_database_url):
        results: list[list[str]] = []

        async def run() -> None:
            results.append(await migrate(empty_database_url))

        async with anyio.create_task_group() as tasks:
            for _ in range(3):
                tasks.start_soon(run)
        assert sorted(results) == [[], [], ALL]

    async def test_changed_checksum_is_refused(self, database_url, migrations_copy):
        with (migrations_copy / CORE.name).open("a") as core:
            core.write("\n-- an edit after the fact\n")
        with pytest.raises(MigrationError, match="001_core changed"):
            await migrate(database_url, migrations_copy)

    async def test_unknown_applied_version_is_refused(self, database_url, tmp_path):
        with pytest.raises(MigrationError, match="does not know"):
            await migrate(database_url, tmp_path)

    async def test_failed_file_leaves_no_trace(self, database_url, migrations_copy):
        (migrations_copy / "002_broken.sql").write_text(
            "CREATE TABLE half_done (id int);\nSELECT 1 / 0;\n"
        )
        with pytest.raises(MigrationError, match="002_broken failed: division by zero"):
            await migrate(database_url, migrations_copy)
        query = "SELECT to_regclass('half_done') IS NULL"
        assert await fetch_values(database_url, query) == [True]
        query = "SELECT version FROM schema_migrations ORDER BY version"
        assert await fetch_values(database_url, query) == ALL

    async def test_environment_names_the_directory(
        self, database_url, migrations_copy, monkeypatch
    ):
        (migrations_copy / "002_extra.sql").write_text("CREATE TABLE extra (id int);\n")
        monkeypatch.setenv("JIFEN_MIGRATIONS_DIR", str(migrations_copy))
        assert await migrate(database_url) == ["002_extra"]

    async def test_missing_directory_is_an_error(self, database_url, tmp_path):
        with pytest.raises(MigrationError, match="not found"):
            await migrate(database_url, tmp_path / "absent")


class TestMigrateCommand:
    def test_up_to_date(self, database_url, monkeypatch, capsys):
        monkeypatch.setenv("JIFEN_DATABASE_URL", database_url)
        assert main(["db", "migrate"]) == 0
        assert capsys.readouterr().out == "up to date\n"

    def test_prints_applied_versions(self, empty_database_url, monkeypatch, capsys):
        monkeypatch.setenv("JIFEN_DATABASE_URL", empty_database_url)
        assert main(["db", "migrate"]) == 0
        assert capsys.readouterr().out == "".join(f"applied {version}\n" for version in ALL)

    def test_url_prints_the_configured_url_with_its_password_hidden(
            self, database_url, monkeypatch, capsys):
        monkeypatch.setenv("JIFEN_DATABASE_URL", database_url)
        assert main(["db", "url"]) == 0
        assert capsys.readouterr().out == redact_url(database_url) + "\n"
        password = urlsplit(database_url).password
        assert password and password not in redact_url(database_url)
        assert main(["db", "url", "--show-password"]) == 0
        assert capsys.readouterr().out == database_url + "\n"


# A file that fails as a lost race for a shared catalog row would, for its first tries: the
# sequence counts the tries (nextval is not rolled back with the failed transaction).
_RACED_SQL = """
DO $$ BEGIN
    IF nextval('tries') < {fails_until} THEN
        RAISE EXCEPTION '{message}' USING ERRCODE = '{code}';
    END IF;
END $$;
CREATE TABLE raced (x integer);
"""


class TestCatalogRace:
    async def _migrate(self, url: str, tmp_path: Path, fails_until: int, message: str,
                       code: str = "XX000") -> list[str]:
        (tmp_path / "001_raced.sql").write_text(
            _RACED_SQL.format(fails_until=fails_until, message=message, code=code))
        connection = await connect(url, 10.0)
        try:
            await connection.execute("CREATE SEQUENCE tries")
        finally:
            await connection.close()
        return await migrate(url, tmp_path)

    @pytest.mark.anyio
    async def test_a_file_that_lost_a_race_for_a_role_is_tried_again(
        self, empty_database_url, tmp_path,
    ):
        applied = await self._migrate(empty_database_url, tmp_path, 3,
                                      "tuple concurrently updated")
        assert applied == ["001_raced"]
        assert await fetch_values(empty_database_url, "SELECT last_value FROM tries") == [3]
        assert await fetch_values(empty_database_url, "SELECT count(*) FROM raced") == [0]

    @pytest.mark.anyio
    async def test_another_error_is_not(self, empty_database_url, tmp_path):
        with pytest.raises(MigrationError, match="001_raced failed: no such thing"):
            await self._migrate(empty_database_url, tmp_path, 3, "no such thing")
        assert await fetch_values(empty_database_url, "SELECT last_value FROM tries") == [1]
