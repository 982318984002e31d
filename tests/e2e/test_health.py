"""/healthz, /readyz and /status on each service's metrics port, and `jifen status`, against
the whole system (host, switch and front on real TCP and PostgreSQL).

The database "stops" for the system's own database alone: connections to it are refused
(`ALLOW_CONNECTIONS false`) and its sessions ended, as a server going away looks to the
services; the shared test server keeps serving the other tests.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import asyncpg
import pytest

from database.connect import with_database
from jifen.cli import main
from tests.e2e.system import ops_endpoints, running_system

pytestmark = pytest.mark.anyio

SERVICES = ("host", "switch", "front")
# Noticing a lost connection takes the host's idle probe (listen_probe_interval_s, 5 s) at
# worst; reconnecting, the backoffs of the three (at most a few seconds each).
STATE_CHANGE_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.1
# A Python process importing the CLI: about a second here, more on a loaded box.
STATUS_COMMAND_TIMEOUT_S = 60.0


def get(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                    timeout=HTTP_TIMEOUT_S) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def wait_until(condition, what: str) -> None:
    """Poll `condition` (sync, run in a thread: it makes HTTP calls) until it holds."""
    try:
        with anyio.fail_after(STATE_CHANGE_TIMEOUT_S):
            while not await anyio.to_thread.run_sync(condition):
                await anyio.sleep(POLL_INTERVAL_S)
    except TimeoutError:
        raise AssertionError(f"not {what} within {STATE_CHANGE_TIMEOUT_S:g} s") from None


def all_ready(ports: dict[str, int]) -> bool:
    return all(get(port, "/readyz")[0] == 200 for port in ports.values())


async def set_connections(database_url: str, allowed: bool) -> None:
    """Let the system's database be connected to, or refuse and end its sessions."""
    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(with_database(database_url, "postgres"))
    try:
        await admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {str(allowed).lower()}")
        if not allowed:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE datname = $1", name)
    finally:
        await admin.close()


async def test_readyz_fails_while_the_database_is_away_and_healthz_stays_200(database_url):
    async with running_system(database_url) as system, ops_endpoints(system) as servers:
        ports = {name: server.port for name, server in servers.items()}
        await wait_until(lambda: all_ready(ports), "ready")
        for name, port in ports.items():
            status, body = get(port, "/readyz")
            assert (status, body["service"], body["ready"], body["failed"]) == \
                (200, name, True, [])
        assert {check["name"] for check in get(ports["host"], "/readyz")[1]["checks"]} == \
            {"database", "writer"}
        assert {check["name"] for check in get(ports["switch"], "/readyz")[1]["checks"]} == \
            {"database", "host_link:main"}
        assert {check["name"] for check in get(ports["front"], "/readyz")[1]["checks"]} == \
            {"database", "switch_link"}

        await set_connections(database_url, allowed=False)
        try:
            def database_failed() -> bool:
                answers = [get(port, "/readyz") for port in ports.values()]
                return all(status == 503 and "database" in body["failed"]
                           for status, body in answers)

            await wait_until(database_failed, "unready for the database")
            for port in ports.values():
                status, body = get(port, "/healthz")
                assert (status, body["alive"]) == (200, True)
            front = get(ports["front"], "/readyz")[1]
            assert front["failed"] == ["database"], front   # the switch link stays up
        finally:
            await set_connections(database_url, allowed=True)
        await wait_until(lambda: all_ready(ports), "ready again")
        async with system.terminal() as terminal:   # and it works
            await terminal.sign_on()


async def test_metrics_are_still_served_on_the_same_port(database_url):
    async with running_system(database_url) as system, ops_endpoints(system) as servers:
        with urllib.request.urlopen(f"http://127.0.0.1:{servers['host'].port}/metrics",
                                    timeout=HTTP_TIMEOUT_S) as answer:
            text = answer.read().decode()
        assert "jifen_host_database_up" in text and "jifen_front_database_up" in text


async def jifen_status(config: Path, *args: str) -> tuple[int, str]:
    """`jifen status` as an operator runs it: a process of its own."""
    with anyio.fail_after(STATUS_COMMAND_TIMEOUT_S):
        result = await anyio.run_process(
            [sys.executable, "-m", "jifen.cli", "--config", str(config), "status", *args],
            check=False)
    return result.returncode, result.stdout.decode()


async def test_jifen_status_reports_every_process(database_url, tmp_path: Path):
    async with running_system(database_url) as system, ops_endpoints(system) as servers:
        ports = {name: server.port for name, server in servers.items()}
        config = tmp_path / "jifen.toml"
        config.write_text("".join(f"[{name}]\nmetrics_port = {port}\n"
                                  for name, port in ports.items()))
        await wait_until(lambda: all_ready(ports), "ready")

        code, out = await jifen_status(config, "--json")
        assert code == 0, out
        processes = json.loads(out)
        assert [process["service"] for process in processes] == ["front", "switch", "host"]
        for process in processes:
            assert process["ready"] and process["error"] is None
            assert process["status"]["version"] and process["status"]["uptime_s"] >= 0
        links = {link["name"]: link["up"] for process in processes
                 for link in process["status"]["links"]}
        assert links == {"switch": True, "host main": True, "fronts": True, "switches": True}

        code, out = await jifen_status(config)
        assert code == 0, out
        table = out.splitlines()
        assert table[0].split() == ["SERVICE", "ADDRESS", "HEALTH", "READY", "VERSION",
                                    "UPTIME", "LINKS"]
        assert [line.split()[:4] for line in table[1:4]] == [
            [name, f"127.0.0.1:{ports[name]}", "alive", "yes"]
            for name in ("front", "switch", "host")]

        # The host stops: the switch loses its link, the host's endpoint answers unready.
        await system.host.stop()
        await wait_until(lambda: get(ports["switch"], "/readyz")[0] == 503, "switch unready")
        code, out = await jifen_status(config)
        assert code == 1, out
        assert "switch: host_link:main: no link to 127.0.0.1:" in out
        assert "host main DOWN" in out


def test_jifen_status_says_which_process_does_not_answer(tmp_path: Path, capsys):
    config = tmp_path / "jifen.toml"
    config.write_text("[front]\nmetrics_port = 0\n[switch]\nmetrics_port = 1\n")
    assert main(["--config", str(config), "status", "--json", "--timeout", "1"]) == 1
    processes = {process["service"]: process for process in json.loads(capsys.readouterr().out)}
    assert processes["front"]["error"] == "metrics_port is 0: no endpoint to ask"
    assert processes["switch"]["error"].startswith("not answering:")
    assert not any(process["ready"] for process in processes.values())
