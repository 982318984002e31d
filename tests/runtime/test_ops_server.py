"""The health endpoint of a service process (runtime/ops_server.py) on a real port: what each
path answers, from a Readiness and the event loop's heartbeat."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from proto.health import LinkState, Readiness
from runtime import ops_server
from runtime.ops_server import Heartbeat, OpsEndpoint, OpsServer

HTTP_TIMEOUT_S = 5.0


def get(port: int, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                    timeout=HTTP_TIMEOUT_S) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


class Switchable:
    def __init__(self) -> None:
        self.ok = True

    def probe(self) -> tuple[bool, str]:
        return self.ok, "fine" if self.ok else "the database is away"


@pytest.fixture
def parts() -> Iterator[tuple[Readiness, Heartbeat, Switchable, int]]:
    readiness, heartbeat, database = Readiness(), Heartbeat(), Switchable()
    readiness.add_check("database", database.probe)
    readiness.add_link("switch", lambda: LinkState("switch", True, "127.0.0.1:8000"))
    server = OpsServer(OpsEndpoint("front", readiness, heartbeat), 0).start()
    try:
        yield readiness, heartbeat, database, server.port
    finally:
        server.stop()


def test_ready_alive_and_status(parts) -> None:
    _, _, _, port = parts
    status, content_type, body = get(port, "/readyz")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"service": "front", "ready": True, "failed": [], "checks": [
        {"name": "database", "ok": True, "detail": "fine"}]}
    status, _, body = get(port, "/healthz")
    assert status == 200 and json.loads(body)["alive"] is True
    status, _, body = get(port, "/status")
    report = json.loads(body)
    assert status == 200
    assert (report["service"], report["alive"], report["ready"]) == ("front", True, True)
    assert report["version"] and report["pid"] > 0 and report["uptime_s"] >= 0
    assert report["links"] == [{"name": "switch", "up": True, "detail": "127.0.0.1:8000"}]


def test_a_failed_check_is_503_and_named_and_health_stays_200(parts) -> None:
    _, _, database, port = parts
    database.ok = False
    status, _, body = get(port, "/readyz")
    assert status == 503
    assert json.loads(body)["failed"] == ["database"]
    assert get(port, "/healthz")[0] == 200
    database.ok = True
    assert get(port, "/readyz")[0] == 200


def test_a_probe_that_raises_fails_its_check(parts) -> None:
    readiness, _, _, port = parts

    def broken() -> tuple[bool, str]:
        raise RuntimeError("oops")

    readiness.add_check("broken", broken)
    status, _, body = get(port, "/readyz")
    checks = {check["name"]: check for check in json.loads(body)["checks"]}
    assert status == 503
    assert checks["broken"] == {"name": "broken", "ok": False,
                                "detail": "probe failed: RuntimeError('oops')"}


def test_a_stalled_event_loop_is_not_alive(parts) -> None:
    _, heartbeat, _, port = parts
    heartbeat.last_beat -= ops_server.LOOP_STALL_S_MAX + 1
    status, _, body = get(port, "/healthz")
    assert status == 503
    assert json.loads(body)["alive"] is False
    assert json.loads(get(port, "/status")[2])["alive"] is False


def test_metrics_are_served_beside(parts) -> None:
    _, _, _, port = parts
    status, content_type, body = get(port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    assert b"python_info" in body or b"process_" in body or b"# HELP" in body
