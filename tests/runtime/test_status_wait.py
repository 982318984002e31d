"""`jifen status --wait S [SERVICE ...]` (runtime/status.py's wait_ready): ask again until the
named processes are ready, within a bound; what a systemd unit's ExecStartPost runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from jifen.cli import main
from proto.health import Readiness
from runtime.config import load_config
from runtime.ops_server import Heartbeat, OpsEndpoint, OpsServer
from runtime.status import READY_POLL_INTERVAL_S, wait_ready


class Flag:
    def __init__(self) -> None:
        self.ok = False

    def probe(self) -> tuple[bool, str]:
        return self.ok, "loaded" if self.ok else "loading the state"


@pytest.fixture
def host() -> Iterator[tuple[Flag, int]]:
    """A host's endpoint whose one check fails until the test says otherwise."""
    readiness, flag = Readiness(), Flag()
    readiness.add_check("writer", flag.probe)
    server = OpsServer(OpsEndpoint("host", readiness, Heartbeat()), 0).start()
    try:
        yield flag, server.port
    finally:
        server.stop()


def _config(tmp_path: Path, host_port: int) -> Path:
    path = tmp_path / "jifen.toml"
    # The front's port answers nothing: only the host is asked.
    path.write_text(f"[host]\nmetrics_port = {host_port}\n[front]\nmetrics_port = 1\n")
    return path


class FakeTime:
    def __init__(self, on_sleep: object = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._on_sleep = on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if callable(self._on_sleep):
            self._on_sleep(len(self.sleeps))


def test_it_asks_again_until_the_service_is_ready(host, tmp_path: Path) -> None:
    flag, port = host

    def ready_on_third(sleeps: int) -> None:
        flag.ok = sleeps >= 3

    fake = FakeTime(ready_on_third)
    config = load_config(str(_config(tmp_path, port)))
    (process,) = wait_ready(config, 60, services=["host"], clock=fake.clock, sleep=fake.sleep)
    assert process.ready and fake.sleeps == [READY_POLL_INTERVAL_S] * 3


def test_it_gives_up_at_the_bound_with_the_failed_check(host, tmp_path: Path) -> None:
    _, port = host
    fake = FakeTime()
    config = load_config(str(_config(tmp_path, port)))
    (process,) = wait_ready(config, 2.2, services=["host"], clock=fake.clock, sleep=fake.sleep)
    assert not process.ready and process.status is not None
    assert [check.detail for check in process.status.checks] == ["loading the state"]
    assert sum(fake.sleeps) == pytest.approx(2.2)


def test_the_command_exits_0_once_ready_and_1_when_not(host, tmp_path: Path, capsys) -> None:
    flag, port = host
    config = str(_config(tmp_path, port))
    assert main(["--config", config, "status", "--wait", "0.6", "host"]) == 1
    assert "host: writer: loading the state" in capsys.readouterr().out
    flag.ok = True
    assert main(["--config", config, "status", "--wait", "30", "--json", "host"]) == 0
    assert [process["service"] for process in json.loads(capsys.readouterr().out)] == ["host"]


def test_a_process_with_no_endpoint_ends_the_wait_at_once(tmp_path: Path, capsys) -> None:
    config = tmp_path / "jifen.toml"
    config.write_text("[switch]\nmetrics_port = 0\n")
    fake = FakeTime()
    (process,) = wait_ready(load_config(str(config)), 60, services=["switch"],
                            clock=fake.clock, sleep=fake.sleep)
    assert process.error == "metrics_port is 0: no endpoint to ask" and fake.sleeps == []


def test_an_unknown_service_is_a_usage_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["status", "hots"])
    assert exit_info.value.code == 2
    known = "front, switch, host, notify, transit, dialup"
    assert f"'hots' is not one of {known}" in capsys.readouterr().err
