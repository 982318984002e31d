"""`jifen loadtest` end to end, as an operator runs it: a system of its own (on the test's
database), a few terminals for 2 seconds, both references. It asserts correctness only: every
answer right, some approvals; never a speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN_TIMEOUT_S = 90.0


@pytest.mark.timeout(120)
def test_a_short_run_has_approvals_and_no_errors(database_url: str, tmp_path: Path) -> None:
    report = tmp_path / "performance.md"
    command = [
        sys.executable, "-m", "jifen.cli", "loadtest", "--start", "--duration", "2",
        "--warmup", "0", "--terminals", "3", "--in-flight", "2", "--cards", "200",
        "--pgbench-clients", "2", "--pgbench-scale", "1", "--json", "--quiet",
        "--report", str(report),
    ]
    environment = dict(os.environ, JIFEN_DATABASE_URL=database_url)
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads(result.stdout)

    system = results["system"]
    assert system["errors"] == [] and system["approved"] > 0
    assert {kind["kind"] for kind in system["by_kind"]} == {"000000", "310000"}
    half_peak = results["half_peak"]   # the open loop at half the closed loop's rate
    assert half_peak["errors"] == [] and half_peak["approved"] > 0
    assert results["ceiling"]["errors"] == [] and results["ceiling"]["answered"] > 0
    assert results["pgbench"]["tps"] > 0
    assert results["ratios"]["to_pgbench"] > 0 and results["ratios"]["to_ceiling"] > 0
    assert results["batches"] and results["batches"][0]["batches"] > 0
    assert "durable authorisations" in report.read_text()
