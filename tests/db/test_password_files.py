"""A service's database password from a file (`[database] host_password_file`, ...), under
systemd a credential (`credential:db-password`). No server needed: the URL is only built."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
import pytest

from database.config import DatabaseConfig
from database.connect import redact_url, resolve_database_url
from database.errors import PasswordFileError
from database.passwords import read_password_file
from database.roles import Role
from runtime.config import load_config
from runtime.errors import ConfigError

HOST_URL = "postgresql://jifen_host_login@db.example:5432/jifen"
PASSWORD = "p@ss:w/rd%"  # every character a URL would misread


def write(path: Path, content: str, mode: int = 0o600) -> Path:
    path.write_text(content)
    path.chmod(mode)
    return path


class TestReadPasswordFile:
    def test_the_line_is_the_password(self, tmp_path: Path) -> None:
        assert read_password_file(str(write(tmp_path / "pw", PASSWORD + "\n"))) == PASSWORD

    def test_a_credential_is_read_from_the_credentials_directory(
            self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        # Where systemd grants the service's user by an ACL, the mask shows as group bits.
        write(tmp_path / "db-password", PASSWORD, mode=0o440)
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
        assert read_password_file("credential:db-password") == PASSWORD

    def test_a_plain_file_open_to_others_is_refused(self, tmp_path: Path) -> None:
        path = write(tmp_path / "pw", PASSWORD, mode=0o644)
        with pytest.raises(PasswordFileError, match="chmod 600"):
            read_password_file(str(path))

    @pytest.mark.parametrize("content", ["", "\n", "one\ntwo\n", "x" * 5000])
    def test_anything_but_one_line_is_refused(self, tmp_path: Path, content: str) -> None:
        with pytest.raises(PasswordFileError, match="one line"):
            read_password_file(str(write(tmp_path / "pw", content)))

    def test_a_missing_file_or_credential_is_an_error(
            self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        with pytest.raises(PasswordFileError, match="cannot read"):
            read_password_file(str(tmp_path / "none"))
        monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
        with pytest.raises(PasswordFileError, match="CREDENTIALS_DIRECTORY is not set"):
            read_password_file("credential:db-password")

    def test_a_symlink_is_not_followed(self, tmp_path: Path) -> None:
        os.symlink(write(tmp_path / "pw", PASSWORD), tmp_path / "link")
        with pytest.raises(PasswordFileError, match="cannot read"):
            read_password_file(str(tmp_path / "link"))


class TestServiceUrl:
    def test_the_role_url_gets_the_files_password(
            self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        write(tmp_path / "db-password", PASSWORD)
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
        config = DatabaseConfig(host_url=HOST_URL, host_password_file="credential:db-password")
        url = resolve_database_url(config, Role.HOST)
        assert urlsplit(url).hostname == "db.example" and urlsplit(url).port == 5432
        assert "p%40ss%3Aw%2Frd%25" in url  # quoted; asyncpg unquotes it
        assert PASSWORD not in redact_url(url)

    def test_another_role_does_not_get_it(self, tmp_path: Path) -> None:
        config = DatabaseConfig(url="postgresql://admin@db.example/jifen", host_url=HOST_URL,
                                host_password_file=str(write(tmp_path / "pw", PASSWORD)))
        assert resolve_database_url(config, Role.FRONT) == "postgresql://admin@db.example/jifen"

    def test_a_password_file_without_its_url_is_refused(self) -> None:
        with pytest.raises(msgspec.ValidationError, match="host_url, which is not set"):
            msgspec.convert({"host_password_file": "credential:db-password"}, DatabaseConfig)

    def test_a_url_with_a_password_and_a_file_is_refused(self) -> None:
        raw = {"front_url": "postgresql://u:secret@db/jifen",
               "front_password_file": "credential:db-password"}
        with pytest.raises(msgspec.ValidationError, match="keep only the file"):
            msgspec.convert(raw, DatabaseConfig)


class TestMultiHostUrl:
    """A URL naming a primary and its standbys must ask for the primary (database/config.py)."""

    def test_several_servers_need_a_read_write_session(self):
        with pytest.raises(ValueError, match="host_url names several servers"):
            DatabaseConfig(host_url="postgresql://h@db1:5432,db2:5432/jifen")
        with pytest.raises(ValueError, match="url names several servers"):
            DatabaseConfig(url="postgresql://a@db1,db2/jifen?target_session_attrs=any")

    def test_jifen_database_url_is_checked_as_the_file_is(self, monkeypatch):
        monkeypatch.delenv("JIFEN_CONFIG", raising=False)
        monkeypatch.setenv("JIFEN_DATABASE_URL", "postgresql://a@db1,db2/jifen")
        with pytest.raises(ConfigError, match=r"\$JIFEN_DATABASE_URL names several servers"):
            load_config(None)
        url = "postgresql://a@db1,db2/jifen?target_session_attrs=read-write"
        monkeypatch.setenv("JIFEN_DATABASE_URL", url)
        assert load_config(None).database.url == url

    def test_accepted_with_it_or_with_one_server(self):
        for url in ("postgresql://a@db1:5432,db2:5432/jifen?target_session_attrs=read-write",
                    "postgresql://a@db1,db2/jifen?sslmode=verify-full&target_session_attrs=primary",
                    "postgresql://a@db1:5432/jifen"):
            assert DatabaseConfig(url=url, front_url=url).url == url
