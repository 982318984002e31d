"""`jifen loadtest --start --partitions 2`, short: two embedded servers (main's and p2's under
the test's directory), the fleet's cards shared over both ranges, and each partition's
approvals/s from its host's /metrics, which together make the run's total. Correctness only,
never a speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import asyncpg
import pytest

from database import EmbeddedPostgres
from loadtest.host_metrics import approvals_per_s, parse_snapshot
from loadtest.partitions import add_partitions, fresh_servers
from loadtest.report import _partition_rows
from proto.keys import load_kek

RUN_TIMEOUT_S = 150.0
DURATION_S = 2.0
TERMINALS, IN_FLIGHT = 3, 2


@pytest.mark.timeout(200)
def test_two_partitions_rates_sum_to_the_total_without_errors(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    command = [
        sys.executable, "-m", "jifen.cli", "loadtest", "--start", "--partitions", "2",
        "--data-dir", str(data_dir), "--duration", str(DURATION_S), "--warmup", "0",
        "--terminals", str(TERMINALS), "--in-flight", str(IN_FLIGHT), "--cards", "200",
        "--quiet", "--no-pgbench", "--no-ceiling", "--no-latency-phase", "--json"]
    environment = {key: value for key, value in os.environ.items()
                   if key != "JIFEN_DATABASE_URL"}
    environment["JIFEN_KEK"] = load_kek().hex()
    try:
        result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True,
                                text=True, timeout=RUN_TIMEOUT_S, check=False)
    finally:   # stopped by the run; here too should it have failed half-way
        for name in ("pg-p2", "pg"):
            EmbeddedPostgres(tmp_path / name).stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads(result.stdout)
    system = results["system"]
    assert system["errors"] == [] and system["approved"] > 0
    partitions = results["partitions"]
    assert sorted(partitions) == ["main", "p2"]
    assert all(rate > 0 for rate in partitions.values()), partitions
    # The hosts count their window a scrape apart from the terminals': at most the requests
    # in flight at each edge, and what a scrape's milliseconds let through, differ.
    edges_per_s = 2 * TERMINALS * IN_FLIGHT / DURATION_S
    total = system["approved_per_s"]
    assert abs(sum(partitions.values()) - total) <= edges_per_s + 0.05 * total, (
        partitions, total)
    for name in ("pg", "pg-p2"):
        assert not (data_dir.parent / name / "postmaster.pid").exists()


METRICS = """# HELP jifen_host_requests_total Requests answered by the host
# TYPE jifen_host_requests_total counter
jifen_host_requests_total{mti="0200",response_code="00"} 70.0
jifen_host_requests_total{mti="0100",response_code="00"} 20.0
jifen_host_requests_total{mti="0200",response_code="51"} 5.0
jifen_host_requests_total{mti="0800",response_code="00"} 3.0
jifen_host_requests_total{mti="0500",response_code="00"} 1.0
"""


def test_a_hosts_approvals_are_its_authorisations_and_purchases_answered_00() -> None:
    before = parse_snapshot("")
    after = parse_snapshot(METRICS)
    assert after.approvals == 90.0
    assert approvals_per_s(before, after, 2.0) == 45.0
    assert approvals_per_s(None, after, 2.0) is None


def test_the_table_shows_each_partition_and_their_sum() -> None:
    rows = _partition_rows({"main": 10.0, "p2": 12.5})
    assert [row[:2] for row in rows] == [["  partition main (its host's count)", "10.0"],
                                         ["  partition p2 (its host's count)", "12.5"],
                                         ["  partitions together", "22.5"]]
    assert _partition_rows({}) == []
    assert _partition_rows({"main": 1.0, "p2": None})[-1][1] == "-"


@pytest.mark.timeout(120)
def test_a_second_run_empties_both_servers_of_the_first_runs_replication(
        tmp_path: Path) -> None:
    """Subscriptions and slots of an earlier run would keep its databases from being dropped:
    a run after a run with p2 added starts from empty databases, p2 added again."""
    central, p2 = EmbeddedPostgres(tmp_path / "pg"), EmbeddedPostgres(tmp_path / "pg-p2")
    try:
        for _ in range(2):
            partitions = fresh_servers(central, {"p2": p2})
            assert [partition.name for partition in partitions] == ["main", "p2"]
            anyio.run(add_partitions, partitions, backend="asyncio")
            states = anyio.run(_partition_states, partitions[0].url, backend="asyncio")
            assert states == [("main", "ready"), ("p2", "ready")]
    finally:
        for server in (p2, central):
            server.stop()


async def _partition_states(url: str) -> list[tuple[str, str]]:
    connection = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await connection.fetch(
            "SELECT name, state FROM partitions ORDER BY number")]
    finally:
        await connection.close()
