"""`credential:NAME` in a file-path setting: the file NAME in $CREDENTIALS_DIRECTORY, where
systemd puts what a unit's `LoadCredential=` hands the service. No systemd needed: the tests set
the variable themselves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from proto.errors import LinkTlsError
from proto.settings import is_credential, resolve_file_path
from proto.tls import ClientTls, ServerTls
from tests.pki_kit import session_pki


class TestResolveFilePath:
    def test_a_credential_is_a_file_of_the_credentials_directory(
            self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
        assert resolve_file_path("credential:tls.key") == str(tmp_path / "tls.key")
        assert is_credential("credential:tls.key")

    def test_any_other_path_is_itself(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/run/credentials/x.service")
        for path in ("var/pki/front.key", "/etc/jifen/pki/ca.crt", "credentials/kek"):
            assert resolve_file_path(path) == path
            assert not is_credential(path)

    def test_without_the_directory_a_credential_says_how_to_get_one(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
        with pytest.raises(ValueError, match=r"CREDENTIALS_DIRECTORY is not set.*"
                                             r"LoadCredential=db-password:FILE"):
            resolve_file_path("credential:db-password")

    @pytest.mark.parametrize("name", ["", ".", "..", "../etc/shadow", "a/b"])
    def test_a_name_that_is_not_a_file_name_is_refused(
            self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
        with pytest.raises(ValueError, match="a file name"):
            resolve_file_path("credential:" + name)


class TestLinkTlsFromCredentials:
    """The links read their certificate, key and CA through `resolve_file_path`."""

    @pytest.fixture
    def credentials(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
        pki = session_pki()
        for source, name in (("front.crt", "tls.crt"), ("front.key", "tls.key"),
                             ("ca.crt", "ca.crt")):
            shutil.copy(pki / source, tmp_path / name)
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
        return tmp_path

    def test_contexts_are_built_from_credentials(self, credentials: Path) -> None:
        client = ClientTls.from_files("credential:tls.crt", "credential:tls.key",
                                      "credential:ca.crt", "switch")
        server = ServerTls.from_files("credential:tls.crt", "credential:tls.key",
                                      "credential:ca.crt", ("switch",))
        assert client.server_name == "switch" and server.peer_names == {"switch"}

    def test_a_missing_credential_names_its_file(self, credentials: Path) -> None:
        (credentials / "tls.key").unlink()
        with pytest.raises(LinkTlsError, match=str(credentials / "tls.key")):
            ClientTls.from_files("credential:tls.crt", "credential:tls.key",
                                 "credential:ca.crt", "switch")

    def test_outside_systemd_a_credential_is_a_link_tls_error(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
        with pytest.raises(LinkTlsError, match="CREDENTIALS_DIRECTORY is not set"):
            ClientTls.from_files("credential:tls.crt", "credential:tls.key",
                                 "credential:ca.crt", "switch")
