"""The writer's CPU benchmark runs end to end: the fleet and rules made, the host's state
loaded, every purchase approved, and each round's CPU per purchase reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

RUN_TIMEOUT_S = 90.0


@pytest.mark.timeout(120)
def test_a_small_run_applies_every_purchase_under_the_rules(database_url: str) -> None:
    command = [sys.executable, "-m", "loadtest.apply_bench", "--rules", "realistic",
               "--cards", "50", "--purchases", "400", "--repeat", "2", "--json"]
    environment = dict(os.environ, JIFEN_DATABASE_URL=database_url)
    result = subprocess.run(command, env=environment, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert (report["rules"], report["rules_in_force"], report["cards"], report["purchases"]) \
        == ("realistic", True, 50, 400)
    assert len(report["rounds"]) == 2
    assert all(item["apply_us"] > 0 and item["arguments_us"] > 0 for item in report["rounds"])
