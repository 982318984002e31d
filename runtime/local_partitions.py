"""`jifen up --partitions N`: the configurations of N partitions on this machine.

From the operator's file (or the defaults) come two kinds of file under RUN_DIR, written anew
at each start:

    jifen.toml       the run's configuration: the operator's, plus `[partitions.<name>]` for
                     each partition but main (an embedded server of its own beside central's,
                     data and backups in `<data_dir>-<name>`, `<backup_dir>-<name>`), the
                     switch's route and certificate name for each partition's host, and
                     `[status] hosts`, so that `jifen status` asks them too. The front, the
                     switch and main's host run with it.
    host-<name>.toml  a partition's host: the run's file with `[host] name = <name>`,
                     `default_host` = main's name (main answers sign-ons, docs/operations.md
                     "A terminal's batch over partitions"), its ports those of main's host
                     plus PORT_OFFSET times its rank, its own certificate, and the partition's
                     database as `[database]`.

Each partition's host has its own certificate (`<name>.crt`, subjectAltName its name): one
host's stolen key cannot stand in for another's.
"""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from runtime.config import Config, load_config
from runtime.errors import ConfigError
from runtime.pki import link_paths
from runtime.toml_file import write_toml

# Where the generated files go, beside the demo's files (var/demo-cards.csv).
RUN_DIR = "var/up"
# A partition's host listens on main's host ports plus this times its rank (p2: +10).
PORT_OFFSET = 10
# The demo alliance's card range splits in two (back_office/provisioning/demo_partitions.py).
PARTITIONS_MAX = 2


class PartitionHost(msgspec.Struct, frozen=True):
    """A partition's host other than main's, as `jifen up` supervises it."""

    name: str
    config_path: str
    config: Config


class LocalRun(msgspec.Struct, frozen=True):
    config_path: str
    config: Config
    hosts: list[PartitionHost]


def partition_names(count: int) -> list[str]:
    """main, then p2, p3, ...: the names of the partitions' hosts."""
    assert 1 <= count <= PARTITIONS_MAX, count
    return ["main", *(f"p{rank + 1}" for rank in range(1, count))]


def write_local_run(config_path: str | None, config: Config, count: int,
                    run_dir: Path = Path(RUN_DIR)) -> LocalRun:
    """Write the run's files for `count` partitions (count > 1) and load them back."""
    assert 2 <= count <= PARTITIONS_MAX, count
    if config.database.url is not None:
        raise ConfigError("jifen up --partitions runs each partition on an embedded server: "
                          "unset database.url and $JIFEN_DATABASE_URL")
    if config.host.name != "main":
        raise ConfigError(f"jifen up --partitions names central's host main, not "
                          f"{config.host.name!r}: drop [host] name")
    raw = _raw(config_path)
    names = partition_names(count)[1:]
    run = copy.deepcopy(raw)
    for rank, name in enumerate(names, start=1):
        _add_partition(run, config, name, rank)
    run_dir = Path(run_dir)
    run_path = run_dir / "jifen.toml"
    write_toml(run_path, run)
    run_config = load_config(run_path)
    hosts = []
    for rank, name in enumerate(names, start=1):
        host_path = run_dir / f"host-{name}.toml"
        write_toml(host_path, _host_sections(run, run_config, name, rank))
        hosts.append(PartitionHost(name, str(host_path), load_config(host_path)))
    return LocalRun(str(run_path), run_config, hosts)


def _raw(config_path: str | None) -> dict[str, Any]:
    path = config_path or os.environ.get("JIFEN_CONFIG")
    if not path:
        return {}
    return tomllib.loads(Path(path).read_text())   # load_config has checked it already


def _add_partition(run: dict[str, Any], config: Config, name: str, rank: int) -> None:
    database = config.database
    run.setdefault("partitions", {})[name] = {
        "data_dir": f"{database.data_dir}-{name}", "backup_dir": f"{database.backup_dir}-{name}",
        "archive_wal": database.archive_wal}
    switch = run.setdefault("switch", {})
    switch["hosts"] = {**config.switch.hosts,
                       name: f"127.0.0.1:{config.host.listen_port + PORT_OFFSET * rank}"}
    switch["host_tls_names"] = {**config.switch.host_tls_names, name: name}
    run.setdefault("status", {}).setdefault("hosts", {})[name] = _offset(
        config.host.metrics_port, rank)


def _host_sections(run: dict[str, Any], run_config: Config, name: str,
                   rank: int) -> dict[str, Any]:
    host = run_config.host
    sections = copy.deepcopy(run)
    sections.pop("status", None)
    sections["database"] = sections["partitions"].pop(name)
    sections["host"] = {
        **sections.get("host", {}), "name": name, "default_host": host.name,
        "listen_port": host.listen_port + PORT_OFFSET * rank,
        "metrics_port": _offset(host.metrics_port, rank),
        **link_paths(Path(run_config.pki.dir), name), "tls_ca_file": host.tls_ca_file}
    return sections


def _offset(port: int, rank: int) -> int:
    """A partition's port from main's host's; 0 (no endpoint) stays 0."""
    return port + PORT_OFFSET * rank if port else 0
