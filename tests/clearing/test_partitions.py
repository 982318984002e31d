"""Clearing over partitions (docs/plans/partitions.md §2, step 4): a day split over two
partition databases clears to the same positions, nets and instructions, to the fen, as the
same day in one database, because the integer sums are added before the one rounding; a
partition that cannot be reached, or is not configured, refuses close-day and run (exit 1,
naming it) and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from clearing.alliance import find_alliance, merchant_codes
from clearing.compute import clear_day
from clearing.journal import read_day
from clearing.rules import rules_in_force
from database.roles import Role
from jifen.cli import main
from tests.account_host.host_harness import fetch
from tests.partition_day import ALLIANCE, DAY, UNREACHABLE_URL, SplitDay, on_database, write_config


def _jifen(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), "clearing", *argv, "--alliance", ALLIANCE,
                 "--date", str(DAY)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def _rounded_apart(urls: list[str]) -> dict[tuple[str, str], int]:
    """What rounding each partition's share apart would give: amounts per (party, category)."""
    amounts: dict[tuple[str, str], int] = {}
    for url in urls:
        connection = await asyncpg.connect(url)
        try:
            alliance = await find_alliance(connection, ALLIANCE)
            codes = await merchant_codes(connection, alliance.id)
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                rules = await rules_in_force(connection, alliance.id, DAY)
                journal = await read_day(connection, alliance.id, sorted(codes), DAY)
            for p in clear_day(journal, rules, sorted(codes)):
                key = ("HQ" if p.merchant_id is None else codes[p.merchant_id], p.category)
                amounts[key] = amounts.get(key, 0) + p.amount_fen
        finally:
            await connection.close()
    return amounts


def test_a_day_over_two_partitions_clears_as_in_one(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object], role_url: Callable[[Role], str],
) -> None:
    one = write_config(tmp_path / "one.toml", split.single_url, {})
    # Over partitions as jifen_clearing, on central and on p2: its grants only.
    clearing = role_url(Role.CLEARING)
    two = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url}, {
        "database": {"clearing_url": on_database(clearing, split.central_url)},
        "p2": {"clearing_url": on_database(clearing, split.p2_url)}})
    results = {}
    for name, config in (("one", one), ("two", two)):
        assert _jifen(capsys, config, "close-day")[0] == 0
        code, out, err = _jifen(capsys, config, "run", "--json")
        assert code == 0, err
        results[name] = json.loads(out)
    single, parted = results["one"], results["two"]
    central = single["partitions"][0]
    assert single["partitions"] == [central]
    assert parted["partitions"] == [central, "p2"]
    assert parted["journal_entries"] == single["journal_entries"] > 0
    assert parted["positions"] == single["positions"]
    assert parted["nets"] == single["nets"]
    assert parted["instructions"] == single["instructions"]
    assert sum(net["net_fen"] for net in parted["nets"]) == 0
    # Each half has postings of its own, and rounding them apart would differ: the test
    # shows the one rounding, not a lucky split.
    for url in (split.central_url, split.p2_url):
        assert run_async(fetch, url, "SELECT count(*) FROM postings")[0][0] > 0
    apart = run_async(_rounded_apart, [split.central_url, split.p2_url])
    together = {(p["merchant"], p["category"]): p["amount_fen"] for p in single["positions"]}
    assert apart != together
    # The run records what it read, and verify reads both again.
    rows = run_async(fetch, split.central_url, "SELECT partitions FROM clearing_runs")
    assert [row["partitions"] for row in rows] == [[central, "p2"]]
    code, out, _ = _jifen(capsys, two, "verify")
    assert code == 0 and out.startswith("identical"), out
    code, out, _ = _jifen(capsys, two, "run")
    assert code == 1


def test_a_partition_not_answering_refuses_close_day_and_run(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object],
) -> None:
    good = write_config(tmp_path / "good.toml", split.central_url, {"p2": split.p2_url})
    down = write_config(tmp_path / "down.toml", split.central_url, {"p2": UNREACHABLE_URL})
    code, _, err = _jifen(capsys, down, "close-day")
    assert code == 1
    assert "partition p2 cannot be reached" in err and "nothing was sealed" in err
    assert run_async(fetch, split.central_url, "SELECT * FROM business_days") == []

    assert _jifen(capsys, good, "close-day")[0] == 0
    code, _, err = _jifen(capsys, down, "run")
    assert code == 1 and "partition p2 cannot be reached" in err
    assert run_async(fetch, split.central_url, "SELECT * FROM clearing_runs") == []
    # The nightly run fails the alliance, naming p2, and clears nothing either.
    capsys.readouterr()
    code = main(["--config", str(down), "clearing", "nightly", "--alliance", ALLIANCE,
                 "--date", str(DAY), "--out", str(tmp_path / "out"), "--metrics-file",
                 str(tmp_path / "clearing.prom")])
    assert code == 1
    assert "partition p2 cannot be reached" in capsys.readouterr().err
    assert run_async(fetch, split.central_url, "SELECT * FROM clearing_runs") == []


def test_status_lists_the_dates_of_every_partition(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object],
) -> None:
    # An entry of p2's moved to the day before: a date whose journal is in p2 alone.
    run_async(_execute_replica, split.p2_url,
              "UPDATE journal_entries SET business_date = business_date - 1"
              " WHERE id = (SELECT min(id) FROM journal_entries)")
    two = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url})
    capsys.readouterr()
    assert main(["--config", str(two), "clearing", "status", "--alliance", ALLIANCE,
                 "--json"]) == 0
    statuses = json.loads(capsys.readouterr().out)
    assert [(s["business_date"], s["state"]) for s in statuses] == [
        (str(DAY - timedelta(days=1)), "open"), (str(DAY), "open")]
    down = write_config(tmp_path / "down.toml", split.central_url, {"p2": UNREACHABLE_URL})
    assert main(["--config", str(down), "clearing", "status"]) == 1
    assert "partition p2 cannot be reached" in capsys.readouterr().err


async def _execute_replica(url: str, statement: str) -> None:
    """As the suite's superuser, with the journal's append-only triggers off."""
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            await connection.execute(statement)
    finally:
        await connection.close()


def test_a_partition_not_configured_refuses_clearing(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object],
) -> None:
    central_only = write_config(tmp_path / "central.toml", split.central_url, {})
    code, _, err = _jifen(capsys, central_only, "close-day")
    assert code == 1
    assert "p2" in err and "[partitions.p2]" in err and "nothing was cleared" in err
    assert run_async(fetch, split.central_url, "SELECT * FROM business_days") == []


# One terminal's batch 000001, closed in both partitions: each part's own comparison is 95 (it
# counted only its share), but the shares add up to what the terminal claimed. The single
# database has that batch balanced (00). Claimed: 3 purchases of 900 fen.
_CLAIMED = "{3,900,0,0,0,0,0,0}"
_PART_SQL = ("UPDATE terminal_batches SET result_code = '95', claimed = '" + _CLAIMED + "',"
             " counted = '{%s}' WHERE batch_number = 1 AND closed_at IS NOT NULL"
             " AND terminal_code = (SELECT min(terminal_code) FROM terminal_batches"
             " WHERE batch_number = 1 AND closed_at IS NOT NULL AND result_code = '00')")

# In every database alike: the last terminal's batch closed 95, the one before never closed.
_LAST = "(SELECT max(terminal_code) FROM terminal_batches)"
_BEFORE = f"(SELECT max(terminal_code) FROM terminal_batches WHERE terminal_code < {_LAST})"
_ISSUES_SQL = (
    f"UPDATE terminal_batches SET result_code = '95' WHERE batch_number = 1"
    f" AND terminal_code = {_LAST}",
    f"DELETE FROM terminal_batches WHERE batch_number = 2 AND terminal_code = {_BEFORE}",
    f"UPDATE terminal_batches SET closed_at = NULL, result_code = NULL WHERE batch_number = 1"
    f" AND terminal_code = {_BEFORE}")


def test_the_report_judges_terminal_batches_over_every_partition(
    split: SplitDay, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    run_async: Callable[..., object],
) -> None:
    for url in (split.single_url, split.central_url, split.p2_url):
        for statement in _ISSUES_SQL:
            run_async(_execute_replica, url, statement)
    run_async(_execute_replica, split.central_url, _PART_SQL % "1,300,0,0,0,0,0,0")
    run_async(_execute_replica, split.p2_url, _PART_SQL % "2,600,0,0,0,0,0,0")
    one = write_config(tmp_path / "one.toml", split.single_url, {})
    two = write_config(tmp_path / "two.toml", split.central_url, {"p2": split.p2_url})
    reports = {}
    for name, config in (("one", one), ("two", two)):
        assert _jifen(capsys, config, "close-day")[0] == 0
        assert _jifen(capsys, config, "run")[0] == 0
        code, out, err = _jifen(capsys, config, "report", "--format", "json")
        assert code == 0, err
        reports[name] = json.loads(out)["terminal_batches"]
    single, parted = reports["one"], reports["two"]
    states = {batch["state"] for batch in single}
    assert states == {"out_of_balance", "not_reconciled"}, states
    # Every batch at issue, with all its transactions of the date (half are p2's), and not
    # the batch whose parts are each 95 but add up.
    assert parted == single
    assert sum(batch["transactions"] for batch in parted) > 0
    central_only = run_async(fetch, split.central_url,
                             "SELECT count(*) FROM transactions WHERE batch_number = 1")
    p2_only = run_async(fetch, split.p2_url,
                        "SELECT count(*) FROM transactions WHERE batch_number = 1")
    assert central_only[0][0] > 0 and p2_only[0][0] > 0

    down = write_config(tmp_path / "down.toml", split.central_url, {"p2": UNREACHABLE_URL})
    code, _, err = _jifen(capsys, down, "report")
    assert code == 1 and "partition p2 cannot be reached" in err
