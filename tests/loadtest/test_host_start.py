"""The host cold-start benchmark runs end to end: cards issued, the host started as a child,
its start time and memory read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN_TIMEOUT_S = 60.0


@pytest.mark.timeout(90)
def test_a_small_run_reports_a_start_and_the_memory(database_url: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "loadtest.host_start", "--cards", "300", "--repeat", "1",
               "--work-dir", str(tmp_path / "work"), "--json"]
    environment = dict(os.environ, JIFEN_DATABASE_URL=database_url)
    result = subprocess.run(command, env=environment, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["cards"] == 300
    (start,) = report["starts"]
    assert 0 < start["cold_start_s"] < RUN_TIMEOUT_S
    assert 0 < start["rss_mib"] <= start["peak_rss_mib"]


@pytest.mark.timeout(120)
def test_with_counters_and_purchases_the_host_loads_them_all(
    database_url: str, tmp_path: Path,
) -> None:
    command = [sys.executable, "-m", "loadtest.host_start", "--cards", "200", "--lots", "3",
               "--counters", "--purchases", "--repeat", "1", "--work-dir",
               str(tmp_path / "work"), "--json"]
    environment = dict(os.environ, JIFEN_DATABASE_URL=database_url)
    result = subprocess.run(command, env=environment, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert (report["cards"], report["lots"], report["purchases"], report["counters"]) == \
        (200, 3, 200, 200)
    loaded = [json.loads(line) for line in
              (tmp_path / "work" / "logs" / "host.log").read_text().splitlines()
              if '"state_loaded"' in line]
    assert loaded, "the host logged its load"
    assert (loaded[-1]["counted_cards"], loaded[-1]["returnable"], loaded[-1]["lots"]) == \
        (200, 200, 200)
