"""deploy/systemd's units: a user per service, the hardening, and secrets only by
`LoadCredential=`.

`systemd-analyze verify` runs on every unit where it exists (each unit copied with ExecStart
pointing at this checkout's `jifen`, since /opt/jifen is not installed here); where it does
not, that test is skipped with the reason, and the checks on the parsed units still run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SERVICES = sorted(UNITS_DIR.glob("*.service"))
JIFEN = Path(sys.executable).parent / "jifen"

# What each service is handed: every credential it needs, and nothing more.
TLS = {"tls.crt", "tls.key", "ca.crt"}
CREDENTIALS = {
    "jifen-host": TLS | {"db-password"},
    "jifen-switch": TLS | {"db-password"},
    "jifen-front": TLS | {"db-password", "kek"},
    "jifen-dialup": TLS,  # to a remote front's bridge listener; no KEK, no database
    "jifen-clearing": {"db-password"},  # no sealed keys, no links
    "jifen-expiry": {"db-password"},  # the back office's: it only writes host commands
    "jifen-tier-review": {"db-password"},  # likewise
    "jifen-notify": {"db-password"},  # its own role's; the webhook takes no client secret
    "jifen-risk-baseline": {"db-password"},  # the back office's: risk_baselines
    "jifen-transit": {"db-password"},  # the back office's: transfers and their steps
    "jifen-receivewal": {"pgpass"},  # the WAL stream's: no Jifen file at all
}
# The units that run no `jifen` command: what they are given instead of JIFEN_CONFIG.
FOREIGN_ENVIRONMENT = {
    "jifen-receivewal": ["PGHOST=db.example PGPORT=5432 PGUSER=jifen_replication "
                         "PGAPPNAME=jifen_receivewal", "PGPASSFILE=%d/pgpass"],
}
HARDENING = {
    "NoNewPrivileges": "yes", "PrivateTmp": "yes", "ProtectSystem": "strict",
    "ProtectHome": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "CapabilityBoundingSet": "", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
}
# Words of an Environment= line that would put a secret in the environment.
_SECRET_WORDS = re.compile(r"(?i)kek|password|secret|token|://[^/@\s]*:[^/@\s]*@")


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Section -> (key, value) in order; a key may repeat (LoadCredential=), so no dict of
    keys. Continuation lines (a trailing backslash) are joined, comments dropped."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    logical = ""
    for raw in path.read_text().splitlines():
        line = logical + raw.strip()
        if line.endswith("\\"):
            logical = line[:-1] + " "
            continue
        logical = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, equals, value = line.partition("=")
        assert equals, f"{path.name}: {line!r} is not key=value"
        current.append((key.strip(), value.strip()))
    return sections


def service_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for key, value in parse_unit(path)["Service"]:
        settings.setdefault(key, []).append(value)
    return settings


def test_every_service_has_a_unit() -> None:
    assert {path.stem for path in SERVICES} == set(CREDENTIALS)


def test_each_service_runs_as_a_user_of_its_own_in_group_jifen() -> None:
    users = {path.stem: service_settings(path)["User"] for path in SERVICES}
    assert users == {name: [name] for name in CREDENTIALS}
    for path in SERVICES:
        assert service_settings(path)["Group"] == ["jifen"], path.name


@pytest.mark.parametrize("path", SERVICES, ids=lambda path: path.stem)
class TestUnit:
    def test_the_hardening_is_on(self, path: Path) -> None:
        settings = service_settings(path)
        assert {key: settings.get(key, [None])[-1] for key in HARDENING} == HARDENING

    def test_no_device_but_the_serial_ports_of_the_bridge(self, path: Path) -> None:
        settings = service_settings(path)
        if path.stem == "jifen-dialup":
            assert "PrivateDevices" not in settings
            assert settings["DevicePolicy"] == ["closed"]
            assert set(settings["DeviceAllow"]) == {"char-ttyS rw", "char-ttyUSB rw",
                                                    "char-ttyACM rw"}
            assert settings["SupplementaryGroups"] == ["dialout"]
        else:
            assert settings["PrivateDevices"] == ["yes"]
            assert "DeviceAllow" not in settings

    def test_secrets_come_by_load_credential_from_etc_jifen(self, path: Path) -> None:
        loaded = dict(value.split(":", 1)
                      for value in service_settings(path).get("LoadCredential", []))
        assert set(loaded) == CREDENTIALS[path.stem]
        assert all(source.startswith(("/etc/jifen/credentials/", "/etc/jifen/pki/"))
                   for source in loaded.values())
        if "tls.key" in loaded:  # its own key, not another service's
            assert loaded["tls.key"] == f"/etc/jifen/pki/{path.stem.removeprefix('jifen-')}.key"

    def test_no_secret_in_the_environment(self, path: Path) -> None:
        settings = service_settings(path)
        assert "EnvironmentFile" not in settings, "a file of variables is the environment"
        for value in settings.get("Environment", []):
            assert not _SECRET_WORDS.search(value), value
        assert settings["Environment"] == FOREIGN_ENVIRONMENT.get(
            path.stem, ["JIFEN_CONFIG=/etc/jifen/jifen.toml"])

    def test_it_writes_only_where_it_is_given(self, path: Path) -> None:
        settings = service_settings(path)
        writable = settings.get("StateDirectory", []) + settings.get("ReadWritePaths", [])
        if path.stem == "jifen-clearing":
            assert writable == ["jifen/clearing", "-/var/lib/node_exporter/textfile_collector"]
        elif path.stem == "jifen-receivewal":
            assert writable == ["jifen/wal-stream"]
        else:  # the long-running services write only to the database, sockets and stdout
            assert writable == []

    def test_a_service_counts_as_started_once_it_is_ready(self, path: Path) -> None:
        """ExecStartPost waits for its /readyz (jifen status --wait S SERVICE), and gives up,
        saying why, before systemd's TimeoutStartSec would kill it silently."""
        settings = service_settings(path)
        if settings["Type"] == ["oneshot"] or path.stem in FOREIGN_ENVIRONMENT:
            # The clearing: started is done. pg_receivewal: no endpoint to ask.
            assert "ExecStartPost" not in settings
            return
        service = path.stem.removeprefix("jifen-")
        (post,) = settings["ExecStartPost"]
        match = re.fullmatch(rf"/opt/jifen/\.venv/bin/jifen status --wait (\d+) {service}", post)
        assert match, post
        (timeout,) = settings["TimeoutStartSec"]
        assert 0 < int(match[1]) < int(timeout)


def test_the_wal_stream_is_restarted_whatever_ends_it() -> None:
    """While it is away, every COMMIT of a server that names it as synchronous standby
    waits: systemd restarts it at once, and never stops trying."""
    path = UNITS_DIR / "jifen-receivewal.service"
    settings = service_settings(path)
    assert (settings["Restart"], settings["RestartSec"]) == (["always"], ["1"])
    assert ("StartLimitIntervalSec", "0") in parse_unit(path)["Unit"]
    (command,) = settings["ExecStart"]
    assert "--synchronous" in command and "--slot=jifen_stream" in command
    assert "--no-loop" not in command   # it retries a lost connection itself


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(SYSTEMD_ANALYZE is None,
                    reason="systemd-analyze is not installed here; the parsed checks still ran")
def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None and JIFEN.exists(), JIFEN
    for unit in [*SERVICES, *UNITS_DIR.glob("*.timer")]:
        text = unit.read_text().replace("/opt/jifen/.venv/bin/jifen", str(JIFEN))
        (tmp_path / unit.name).write_text(text)
    copies = sorted(str(path) for path in tmp_path.iterdir())
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", *copies], capture_output=True,
                            text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
