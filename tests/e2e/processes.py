"""Host, switch and front as the operator runs them (`jifen host|switch|front`, one process
each), with every line each writes on stderr and stdout kept in a file of its own: for tests
that read the logs (no secrets in them; one request id through all three)."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from database.ports import free_port as free_port  # below the ephemeral range: see there
from runtime.supervisor import Child, stop_child, wait_for_port
from tests.pki_kit import tls_fields

SERVICES = ("host", "switch", "front")   # in the order they start


def write_config(
    path: Path, database_url: str, ports: dict[str, int], *, kek_variable: str,
    log_level: str = "debug",
) -> None:
    """A configuration of the three on `ports`, their KEK read from `kek_variable` (not the
    default variable, to prove `kek_env` is honoured)."""
    def tls(name: str) -> str:
        return "".join(f'{field} = "{value}"\n' for field, value in tls_fields(name).items())

    no_kek_file = path.parent / "no-such-kek.hex"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n'
        f'[log]\nlevel = "{log_level}"\n'
        f'[front]\nlisten_port = {ports["front"]}\nmetrics_port = 0\n'
        f'switch_address = "127.0.0.1:{ports["switch"]}"\nkek_env = "{kek_variable}"\n'
        f'kek_file = "{no_kek_file}"\n' + tls("front") +
        f'[switch]\nlisten_port = {ports["switch"]}\nmetrics_port = 0\n'
        f'hosts = {{ main = "127.0.0.1:{ports["host"]}" }}\n' + tls("switch") +
        f'[host]\nlisten_port = {ports["host"]}\nmetrics_port = 0\n'
        f'kek_env = "{kek_variable}"\nkek_file = "{no_kek_file}"\n' + tls("host")
    )


@asynccontextmanager
async def running_services(
    config: Path, ports: dict[str, int], env: dict[str, str], log_dir: Path,
) -> AsyncIterator[dict[str, Path]]:
    """The three processes, each started once its predecessor listens; yields each one's log
    file by name, and stops them all (front first) on exit."""
    children: list[Child] = []
    logs: dict[str, Path] = {}
    try:
        for name in SERVICES:
            logs[name] = log = log_dir / f"{name}.log"
            with log.open("wb") as sink:
                process = await anyio.open_process(
                    [sys.executable, "-m", "jifen.cli", "--config", str(config), name],
                    env=env, cwd=log_dir, stdout=sink, stderr=sink)
            child = Child(name, ports[name], process)
            children.append(child)
            await wait_for_port(child)
        yield logs
    finally:
        for child in reversed(children):
            await stop_child(child)


def environment(database_url: str, kek_variable: str, kek_hex: str) -> dict[str, str]:
    """The processes' environment: the KEK in `kek_variable` only."""
    env = dict(os.environ, JIFEN_DATABASE_URL=database_url, **{kek_variable: kek_hex})
    env.pop("JIFEN_KEK", None)
    return env
