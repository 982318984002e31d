"""The transfers' benchmark on a real `jifen up --partitions 2`: a few replacements written at
once all end credited, and the figures add up."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.transit_bench import run_bench


@pytest.mark.timeout(300)
def test_a_few_replacements_drain_credited(tmp_path: Path) -> None:
    result = run_bench(tmp_path / "bench", 3)
    assert (result.transfers, result.credited) == (3, 3)
    assert 0 < result.latency_p50_s <= result.latency_max_s <= result.drain_s + 1.0
    assert result.per_s > 0
