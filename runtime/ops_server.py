"""A service's operations endpoint on its metrics port: `/metrics` (Prometheus), `/healthz`,
`/readyz` and `/status` (`proto.health` says what each means).

It is prometheus_client's own WSGI server (a thread per request, in a daemon thread of its own,
as `prometheus_client.start_http_server` runs it) with three more paths: no new dependency, and
the endpoints answer even while the event loop is busy, which is how `/healthz` can tell that
the loop has stopped turning.

The event loop proves it turns by `Heartbeat.run`, a task of the service's process beating
every HEARTBEAT_INTERVAL_S; `/healthz` fails once no beat came for LOOP_STALL_S_MAX.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import anyio
import msgspec
import prometheus_client

from proto.health import AliveReport, Readiness, ReadyReport, ServiceStatus

# The loop beats once a second: cheap, and fine enough against LOOP_STALL_S_MAX.
HEARTBEAT_INTERVAL_S = 1.0
# A loop that ran nothing of ours for this long is wedged, not busy: the host's longest
# synchronous step (building the state of 10^6 cards at start) takes a few seconds.
LOOP_STALL_S_MAX = 30.0
# How long `stop` waits for the server thread to end.
SERVER_STOP_TIMEOUT_S = 5.0

StartResponse = Callable[..., Any]


def jifen_version() -> str:
    try:
        return metadata.version("jifen")
    except metadata.PackageNotFoundError:
        return "unknown"


class Heartbeat:
    """When the event loop last ran the heartbeat task (monotonic seconds)."""

    def __init__(self) -> None:
        self.last_beat = time.monotonic()

    def idle_s(self) -> float:
        return max(0.0, time.monotonic() - self.last_beat)

    async def run(self) -> None:
        while True:
            self.last_beat = time.monotonic()
            await anyio.sleep(HEARTBEAT_INTERVAL_S)


class OpsEndpoint:
    """The WSGI application: what each path answers, from the service's Readiness."""

    def __init__(self, service: str, readiness: Readiness, heartbeat: Heartbeat,
                 registry: prometheus_client.CollectorRegistry = prometheus_client.REGISTRY,
                 ) -> None:
        self.service = service
        self.readiness = readiness
        self.heartbeat = heartbeat
        self.started_at = time.monotonic()
        self.version = jifen_version()
        self._metrics = prometheus_client.make_wsgi_app(registry)

    def alive(self) -> AliveReport:
        idle_s = self.heartbeat.idle_s()
        return AliveReport(self.service, idle_s < LOOP_STALL_S_MAX, round(idle_s, 3))

    def ready(self) -> ReadyReport:
        checks = self.readiness.checks()
        failed = [check.name for check in checks if not check.ok]
        return ReadyReport(self.service, not failed, failed, checks)

    def status(self) -> ServiceStatus:
        ready = self.ready()
        return ServiceStatus(
            self.service, self.version, os.getpid(),
            round(time.monotonic() - self.started_at, 3), self.alive().alive,
            ready.ready, ready.checks, self.readiness.links())

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            alive = self.alive()
            return _answer(start_response, alive.alive, alive)
        if path == "/readyz":
            ready = self.ready()
            return _answer(start_response, ready.ready, ready)
        if path == "/status":
            return _answer(start_response, True, self.status())
        result: Iterable[bytes] = self._metrics(environ, start_response)
        return result


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """A thread per request, so that a slow scraper does not hold up a probe."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No access line on stderr per request: the service's log is JSON lines."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _answer(start_response: StartResponse, ok: bool, body: msgspec.Struct) -> list[bytes]:
    # A list of its own: wsgiref adds Content-Length to the list it is given.
    start_response("200 OK" if ok else "503 Service Unavailable",
                   [("Content-Type", "application/json")])
    return [msgspec.json.encode(body) + b"\n"]


class OpsServer:
    """The endpoint served on 127.0.0.1:`port` (0: any free port; `port` is then the bound
    one) from a daemon thread."""

    def __init__(self, endpoint: OpsEndpoint, port: int, host: str = "127.0.0.1") -> None:
        self.endpoint = endpoint
        self._server: WSGIServer = make_server(host, port, endpoint, _ThreadingServer,
                                               handler_class=_QuietHandler)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"ops-{endpoint.service}", daemon=True)

    def start(self) -> OpsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(SERVER_STOP_TIMEOUT_S)
