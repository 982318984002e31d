"""The system under test as child processes: host, switch and front (each `python -m jifen.cli
<service>` with a generated configuration, as `jifen up` runs them, so that they spread over
both cores), and the bare front of the ceiling reference.

Unlike `jifen up`'s supervisor, a child that dies is not restarted: a load test whose system
loses a process has failed, and says so.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import anyio
import msgspec

from database import ports
from loadtest.errors import SetupError, UsageError
from runtime.config import load_config
from runtime.errors import ConfigError
from runtime.supervisor import Child, ChildStartError, stop_child, wait_for_port

# Log level of the children: warnings and errors only, so that logging costs nothing per request.
CHILD_LOG_LEVEL = "warning"

Sections = dict[str, dict[str, Any]]


class SystemPorts(msgspec.Struct, frozen=True):
    front: int
    switch: int
    host: int
    front_metrics: int
    switch_metrics: int
    host_metrics: int

    @classmethod
    def free(cls) -> SystemPorts:
        return cls(*(free_port() for _ in range(6)))


def free_port() -> int:
    # Below the ephemeral range, where no other socket takes it before the child binds it.
    return ports.free_port()


def system_sections(database_url: str, ports: SystemPorts) -> Sections:
    return {
        "database": {"url": database_url},
        "log": {"level": CHILD_LOG_LEVEL},
        "front": {"listen_port": ports.front, "metrics_port": ports.front_metrics,
                  "switch_address": f"127.0.0.1:{ports.switch}"},
        "switch": {"listen_port": ports.switch, "metrics_port": ports.switch_metrics,
                   "hosts": {"main": f"127.0.0.1:{ports.host}"}},
        "host": {"listen_port": ports.host, "metrics_port": ports.host_metrics},
    }


def with_partition_host(sections: Sections, name: str, host_port: int) -> Sections:
    """The system's sections with partition `name`'s host routed by the switch, whose
    certificate carries its own name."""
    changed = {section: dict(fields) for section, fields in sections.items()}
    switch = changed["switch"]
    switch["hosts"] = {**switch["hosts"], name: f"127.0.0.1:{host_port}"}
    switch["host_tls_names"] = {**switch.get("host_tls_names", {}), name: name}
    return changed


def partition_host_sections(sections: Sections, name: str, database_url: str, host_port: int,
                            metrics_port: int, pki_dir: Path) -> Sections:
    """Partition `name`'s host: the system's settings on its own database, ports and
    certificate (issued here when missing); main answers the terminals' sign-ons."""
    from runtime.pki import init_pki, link_paths

    init_pki(pki_dir, (name,))
    changed = {section: dict(fields) for section, fields in sections.items()}
    changed["database"] = {"url": database_url}
    changed["host"] = {**changed.get("host", {}), "name": name, "default_host": "main",
                       "listen_port": host_port, "metrics_port": metrics_port,
                       **link_paths(pki_dir, name)}
    return changed


def ceiling_sections(database_url: str, port: int) -> Sections:
    """A front that answers echoes itself; its switch address has nobody listening."""
    return {
        "database": {"url": database_url},
        "log": {"level": CHILD_LOG_LEVEL},
        "front": {"listen_port": port, "metrics_port": 0, "answer_echo_locally": True,
                  "switch_address": f"127.0.0.1:{free_port()}", "link_startup_wait_s": 0.0},
    }


def apply_overrides(sections: Sections, overrides: list[str]) -> Sections:
    """`SECTION.FIELD=VALUE` items (VALUE in TOML, else a plain string) over the sections."""
    for item in overrides:
        name, equals, value_text = item.partition("=")
        section, dot, field = name.strip().partition(".")
        if not equals or not dot or not section or not field:
            raise UsageError(f"--set {item!r} must be SECTION.FIELD=VALUE, "
                             "e.g. host.batch_wait_ms_max=1")
        try:
            value = tomllib.loads(f"value = {value_text.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = value_text.strip()
        sections.setdefault(section, {})[field] = value
    return sections


def write_config(path: Path, sections: Sections) -> None:
    """Write the TOML file, then load it as the services will: a bad --set fails here. The
    links are mutual TLS: the services' certificates are issued (once) into `pki/` beside the
    file, and each service section not naming its own files is pointed at them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sections = with_link_pki(sections, path.parent / "pki")
    lines = []
    for section, fields in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{field} = {_toml_value(value)}" for field, value in fields.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    try:
        load_config(path)
    except ConfigError as exc:
        raise UsageError(f"the generated configuration is not valid: {exc}") from exc


def with_link_pki(sections: Sections, pki_dir: Path) -> Sections:
    """`sections` with the TLS files of the PKI in `pki_dir` (created when missing)."""
    from runtime.pki import init_pki, link_paths

    host_name = sections.get("pki", {}).get("host_name", "host")
    init_pki(pki_dir, ("front", "switch", host_name))
    changed = {section: dict(fields) for section, fields in sections.items()}
    changed.setdefault("pki", {}).setdefault("dir", str(pki_dir))
    for section, name in (("front", "front"), ("switch", "switch"), ("host", host_name)):
        if section in changed:
            for field, value in link_paths(pki_dir, name).items():
                changed[section].setdefault(field, value)
    return changed


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml_value(item)}"
                                for key, item in value.items()) + " }"
    if isinstance(value, str):
        return json.dumps(value)   # a JSON string is a TOML basic string
    return repr(value)


class Services:
    """Children started in order, each once its predecessor listens; stopped in reverse."""

    def __init__(self, config_path: Path, log_dir: Path) -> None:
        self._config_path = config_path
        self._log_dir = log_dir
        self.children: list[Child] = []

    def pid(self, name: str) -> int | None:
        for child in self.children:
            if child.name == name and child.process is not None:
                return child.process.pid
        return None

    async def start(self, name: str, port: int, config_path: Path | None = None,
                    service: str | None = None) -> None:
        """Child `name` runs `service` (default: `name`) with `config_path` (default: the
        system's file): a partition's host is child "host-p2", service "host"."""
        self._log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self._log_dir / f"{name}.log"
        command = [sys.executable, "-m", "jifen.cli", "--config",
                   str(config_path or self._config_path), service or name]
        child = Child(name, port)
        with open(log_path, "ab") as log:
            child.process = await anyio.open_process(command, stdout=log, stderr=log)
        self.children.append(child)
        await _wait_for_port(child, log_path)

    def check_alive(self) -> None:
        for child in self.children:
            if child.process is not None and child.process.returncode is not None:
                raise SetupError(f"{child.name} exited with {child.process.returncode} during "
                                 f"the run; see {self._log_dir / (child.name + '.log')}")

    async def stop(self) -> None:
        with anyio.CancelScope(shield=True):
            for child in reversed(self.children):
                await stop_child(child)
            self.children.clear()


async def _wait_for_port(child: Child, log_path: Path) -> None:
    try:
        await wait_for_port(child)
    except ChildStartError as exc:
        raise SetupError(f"{exc}; see {log_path}") from exc
