"""Readiness: what a service says of itself on its metrics port, and what `jifen status` reads.

A service is handed a `Readiness` and adds its checks and links to it while it starts: each a
function of state the service already holds (a connection's flag, a link's `is_up`, the time
its writer last took from its queue), cheap, and safe to call from another thread, because
the runtime serves `/readyz` and `/status` from a thread of its own (so that they answer even
while the event loop is busy): a probe only reads, never awaits nor changes anything.

    /healthz   200 while the process runs and its event loop turns (`alive`), else 503
    /readyz    200 when every check passes, else 503; the body names each failed check
    /status    200 with a `ServiceStatus`: version, uptime, every check and link

The bodies are JSON of the Structs below: the contract between the services and the CLI.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

# A check's detail is one short line: what failed and since when, never a secret.
DETAIL_LENGTH_MAX = 200


class Check(msgspec.Struct, frozen=True):
    name: str
    ok: bool
    detail: str = ""


class LinkState(msgspec.Struct, frozen=True):
    """A link the service holds (or is held by): `up`, and a word on it (its peer, a count)."""

    name: str
    up: bool
    detail: str = ""


class ReadyReport(msgspec.Struct, frozen=True):
    """The body of /readyz."""

    service: str
    ready: bool
    failed: list[str]
    checks: list[Check]


class AliveReport(msgspec.Struct, frozen=True):
    """The body of /healthz."""

    service: str
    alive: bool
    loop_idle_s: float   # since the event loop last ran the runtime's heartbeat


class ServiceStatus(msgspec.Struct, frozen=True):
    """The body of /status."""

    service: str
    version: str
    pid: int
    uptime_s: float
    alive: bool
    ready: bool
    checks: list[Check]
    links: list[LinkState]


# What a probe returns: whether the check passes, and a word on why not (or on the state).
Probe = Callable[[], tuple[bool, str]]
LinkProbe = Callable[[], LinkState]


class Readiness:
    """The named checks and links of one service. Names are unique: adding a name again
    replaces the probe (a part of the service that restarts adds its own again)."""

    def __init__(self) -> None:
        self._checks: dict[str, Probe] = {}
        self._links: dict[str, LinkProbe] = {}

    def add_check(self, name: str, probe: Probe) -> None:
        self._checks[name] = probe

    def add_link(self, name: str, probe: LinkProbe) -> None:
        self._links[name] = probe

    def checks(self) -> list[Check]:
        """Every check, run now; a probe that raises fails its check (and says what)."""
        results = []
        for name, probe in list(self._checks.items()):
            try:
                ok, detail = probe()
            except Exception as exc:  # a probe must not take the endpoint down with it
                ok, detail = False, f"probe failed: {exc!r}"
            results.append(Check(name, ok, detail[:DETAIL_LENGTH_MAX]))
        return results

    def links(self) -> list[LinkState]:
        results = []
        for name, probe in list(self._links.items()):
            try:
                results.append(probe())
            except Exception as exc:
                results.append(LinkState(name, False, f"probe failed: {exc!r}"[
                    :DETAIL_LENGTH_MAX]))
        return results
