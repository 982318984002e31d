"""The files `jifen up --partitions 2` writes: the run's configuration (p2's database, route,
certificate name and status port) and p2's host's, each loaded as the services load it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from runtime.config import Config, load_config
from runtime.errors import ConfigError
from runtime.local_partitions import PORT_OFFSET, partition_names, write_local_run
from runtime.status import configured_processes
from runtime.toml_file import toml_text


def test_partition_names() -> None:
    assert partition_names(1) == ["main"]
    assert partition_names(2) == ["main", "p2"]


def test_the_run_keeps_the_operators_file_and_adds_p2(tmp_path: Path) -> None:
    operator = tmp_path / "jifen.toml"
    operator.write_text('[database]\ndata_dir = "data/pg"\n[host]\nlisten_port = 7000\n'
                        "metrics_port = 7100\n[switch]\nhosts = { main = \"127.0.0.1:7000\" }\n"
                        "[log]\nlevel = \"debug\"\n")
    run = write_local_run(str(operator), load_config(operator), 2, tmp_path / "up")
    config = run.config
    assert config.log.level == "debug"
    assert config.partitions["p2"].data_dir == "data/pg-p2"
    assert config.switch.hosts == {"main": "127.0.0.1:7000",
                                   "p2": f"127.0.0.1:{7000 + PORT_OFFSET}"}
    assert config.switch.host_tls_names == {"p2": "p2"}
    assert config.status.hosts == {"p2": 7100 + PORT_OFFSET}
    [p2] = run.hosts
    host = p2.config.host
    assert (host.name, host.default_host) == ("p2", "main")
    assert (host.listen_port, host.metrics_port) == (7010, 7110)
    assert host.tls_cert_file.endswith("p2.crt") and host.tls_key_file.endswith("p2.key")
    assert p2.config.database.data_dir == "data/pg-p2"
    assert [(service, partition) for service, _, partition in configured_processes(config)] \
        == [("front", None), ("switch", None), ("host", "main"), ("host", "p2")]


def test_a_configured_url_is_refused(tmp_path: Path) -> None:
    config = Config()
    with_url = msgspec.structs.replace(config, database=msgspec.structs.replace(
        config.database, url="postgresql://jifen@db/jifen"))
    with pytest.raises(ConfigError, match="embedded server"):
        write_local_run(None, with_url, 2, tmp_path)


def test_toml_round_trip() -> None:
    document = {"a": 1, "database": {"data_dir": "var/pg", "archive_wal": False},
                "switch": {"hosts": {"main": "127.0.0.1:1", "p 2": "x"}, "list": [1.5, "b"]}}
    assert tomllib.loads(toml_text(document)) == document
