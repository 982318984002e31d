"""`jifen loadtest` end to end, as an operator runs it: a system of its own (on the test's
database), a few terminals for 2 seconds, both references, and the latency phase at 0.7x the
run's pgbench TPS. It asserts correctness only: every answer right, some approvals; never a
speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from proto.keys import load_kek

RUN_TIMEOUT_S = 90.0


def _loadtest(database_url: str, tmp_path: Path, *options: str) -> str:
    """A short run of a system of its own; its standard output."""
    command = [
        sys.executable, "-m", "jifen.cli", "loadtest", "--start", "--duration", "2",
        "--warmup", "0", "--terminals", "3", "--in-flight", "2", "--cards", "200", "--quiet",
        *options,
    ]
    # The installation's KEK, under which its front's key pair is (tests/conftest.py).
    environment = dict(os.environ, JIFEN_DATABASE_URL=database_url, JIFEN_KEK=load_kek().hex())
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.timeout(120)
def test_a_short_run_has_approvals_and_no_errors(database_url: str, tmp_path: Path) -> None:
    report = tmp_path / "performance.md"
    results = json.loads(_loadtest(database_url, tmp_path, "--pgbench-clients", "2",
                                   "--pgbench-scale", "1", "--json", "--report", str(report)))

    system = results["system"]
    assert system["errors"] == [] and system["approved"] > 0
    assert {kind["kind"] for kind in system["by_kind"]} == {"000000", "310000"}
    latency_rate = results["latency_rate"]   # the open loop at 0.7x this run's pgbench TPS
    assert latency_rate["source"] == "pgbench"
    assert latency_rate["per_s"] == round(0.7 * results["pgbench"]["tps"])
    latency_phase = results["latency_phase"]
    assert latency_phase["errors"] == [] and latency_phase["approved"] > 0
    assert results["ceiling"]["errors"] == [] and results["ceiling"]["answered"] > 0
    assert results["pgbench"]["tps"] > 0
    assert results["ratios"]["to_pgbench"] > 0 and results["ratios"]["to_ceiling"] > 0
    assert results["batches"] and results["batches"][0]["batches"] > 0
    text = report.read_text()
    assert "durable authorisations" in text
    assert "at 0.7x pgbench TPS (open loop)" in text
    assert "latency target, p99 < 15 ms at " in text


@pytest.mark.timeout(120)
def test_without_pgbench_the_latency_phase_is_skipped_and_says_why(
        database_url: str, tmp_path: Path) -> None:
    text = _loadtest(database_url, tmp_path, "--no-pgbench", "--no-ceiling")
    assert "latency phase: skipped: no pgbench in this run" in text
    assert "(open loop)" not in text
    assert "system: no errors" in text
