"""runtime.pki: `jifen pki init`'s CA and certificates, their modes, and what a re-run does."""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from jifen.cli import main
from runtime.config import Config, load_config
from runtime.errors import PkiError
from runtime.pki import LEAF_VALIDITY_DAYS, PkiFiles, configure_links, init_pki, service_names

NAMES = ("front", "switch", "host")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestInit:
    def test_keys_are_0600_certificates_0644_and_names_are_the_services(
        self, tmp_path: Path
    ) -> None:
        written = init_pki(tmp_path / "pki", NAMES)
        files = PkiFiles(tmp_path / "pki")
        assert len(written) == 8
        assert mode(files.ca_key) == 0o600 and mode(files.ca_cert) == 0o644
        for name in NAMES:
            assert mode(files.key(name)) == 0o600 and mode(files.cert(name)) == 0o644
            cert = x509.load_pem_x509_certificate(files.cert(name).read_bytes())
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            assert names.value.get_values_for_type(x509.DNSName) == [name]
            lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
            assert lifetime.days == LEAF_VALIDITY_DAYS   # plus the few minutes of slack
            context = ssl.create_default_context(cafile=str(files.ca_cert))
            context.load_cert_chain(files.cert(name), files.key(name))   # a matching pair

    def test_a_rerun_keeps_everything_and_adds_only_a_new_name(self, tmp_path: Path) -> None:
        init_pki(tmp_path, NAMES)
        ca_before = PkiFiles(tmp_path).ca_cert.read_bytes()
        assert init_pki(tmp_path, NAMES) == []
        assert init_pki(tmp_path, (*NAMES, "main")) == [tmp_path / "main.key",
                                                        tmp_path / "main.crt"]
        assert PkiFiles(tmp_path).ca_cert.read_bytes() == ca_before

    def test_the_services_names_include_the_bridges(self) -> None:
        assert service_names(Config()) == ("front", "switch", "host", "dialup")

    def test_an_existing_install_gets_the_bridges_certificate_on_the_next_init(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        directory = tmp_path / "keys"
        init_pki(directory, NAMES)   # as `jifen pki init` wrote it before the bridge's name
        before = {path.name: path.read_bytes() for path in directory.iterdir()}
        config = tmp_path / "jifen.toml"
        config.write_text(f'[pki]\ndir = "{directory}"\n')
        assert main(["--config", str(config), "pki", "init"]) == 0
        assert capsys.readouterr().out == f"wrote {directory / 'dialup.key'}\n" \
            f"wrote {directory / 'dialup.crt'}\n"
        assert {path.name: path.read_bytes() for path in directory.iterdir()
                if path.name in before} == before
        cert = x509.load_pem_x509_certificate((directory / "dialup.crt").read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert names.value.get_values_for_type(x509.DNSName) == ["dialup"]
        assert mode(directory / "dialup.key") == 0o600

    def test_force_replaces_the_ca(self, tmp_path: Path) -> None:
        init_pki(tmp_path, NAMES)
        ca_before = PkiFiles(tmp_path).ca_cert.read_bytes()
        assert len(init_pki(tmp_path, NAMES, force=True)) == 8
        assert PkiFiles(tmp_path).ca_cert.read_bytes() != ca_before

    def test_a_symlink_in_place_of_a_key_is_not_followed(self, tmp_path: Path) -> None:
        target = tmp_path / "elsewhere"
        target.write_text("untouched")
        (tmp_path / "pki").mkdir()
        os.symlink(target, tmp_path / "pki" / "ca.key")
        with pytest.raises(PkiError):
            init_pki(tmp_path / "pki", NAMES)
        assert target.read_text() == "untouched"

    def test_the_command_writes_under_the_configured_dir(self, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
        config = tmp_path / "jifen.toml"
        config.write_text(f'[pki]\ndir = "{tmp_path / "keys"}"\n')
        assert main(["--config", str(config), "pki", "init"]) == 0
        assert (tmp_path / "keys" / "host.crt").is_file()
        assert main(["--config", str(config), "pki", "init"]) == 0
        assert "Nothing to do" in capsys.readouterr().out


class TestConfig:
    def test_configure_links_points_every_service_at_the_pki(self, tmp_path: Path) -> None:
        config = configure_links(Config(), tmp_path)
        assert config.front.tls_cert_file == str(tmp_path / "front.crt")
        assert config.switch.tls_key_file == str(tmp_path / "switch.key")
        assert config.host.tls_ca_file == str(tmp_path / "ca.crt")
        assert config.dialup.tls_cert_file == str(tmp_path / "dialup.crt")

    def test_an_idle_timeout_within_the_clients_probe_is_refused(self, tmp_path: Path) -> None:
        from runtime.errors import ConfigError

        path = tmp_path / "jifen.toml"
        path.write_text("[host]\nlink_idle_timeout_s = 6.0\n")   # switch probes 5 s + 3 s
        with pytest.raises(ConfigError, match="link_idle_timeout_s"):
            load_config(path)
