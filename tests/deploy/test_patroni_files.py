"""deploy/patroni with Patroni's own validator, and the settings the fail-over rests on
(docs/reliability.md, "Fail-over"): a crashed primary fails over at once, to a synchronous
standby, and commits wait for it. The local cluster of the tests (database/cluster.py) runs
with the same ones, strict mode aside (two nodes only)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from database.cluster import POSTGRES_PARAMETERS, LocalCluster

PATRONI_DIR = Path(__file__).resolve().parents[2] / "deploy" / "patroni"
PATRONI_CONFIG = PATRONI_DIR / "patroni.yml"
# Validation reads a file and looks at a few paths and ports: well under a second.
VALIDATE_TIMEOUT_S = 60.0
# What only the database machines themselves have: their addresses and PostgreSQL's programs.
_ELSEWHERE = re.compile(r"Port \d+ is already in use|Directory '/usr/lib/postgresql/18/bin'")

needs_patroni = pytest.mark.skipif(
    importlib.util.find_spec("patroni") is None or importlib.util.find_spec("yaml") is None,
    reason="Patroni not installed: pip install -e '.[test]'")


@needs_patroni
def test_patroni_validates_the_configuration():
    result = subprocess.run(
        [sys.executable, "-m", "patroni", "--validate-config", str(PATRONI_CONFIG)],
        capture_output=True, text=True, timeout=VALIDATE_TIMEOUT_S, check=False)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and not _ELSEWHERE.search(line)]
    assert problems == []


@needs_patroni
def test_the_deployment_fails_over_as_the_tests_do(tmp_path):
    import yaml

    deployed = yaml.safe_load(PATRONI_CONFIG.read_text())
    cluster = LocalCluster(tmp_path)
    local = cluster.patroni_config(cluster.nodes[0])
    for config in (deployed, local):
        dcs = config["bootstrap"]["dcs"]
        assert dcs["primary_start_timeout"] == 0
        assert dcs["synchronous_mode"] is True
        assert dcs["postgresql"]["use_pg_rewind"] is True
        parameters = dcs["postgresql"]["parameters"]
        assert parameters["synchronous_commit"] == "on"
        assert parameters["wal_log_hints"] == "on"
    assert deployed["bootstrap"]["dcs"]["synchronous_mode_strict"] is True
    assert set(POSTGRES_PARAMETERS) <= set(deployed["bootstrap"]["dcs"]["postgresql"]["parameters"])
