"""`jifen clearing nightly`: seals and clears the date that just closed, writes the report and
settlement files, does nothing harmful the second time, exits 1 on failure, and always leaves
its Prometheus textfile with the last run, the last success and whether the last run failed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import anyio
import asyncpg
import pytest

from clearing import find_alliance
from clearing.nightly import (
    LAST_DURATION,
    LAST_FAILED,
    LAST_RUN,
    LAST_SUCCESS,
    NightlyMetrics,
    just_closed,
)
from tests.clearing.report_kit import ALLIANCE, generated_day


async def _just_closed_date(database_url: str):
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("INSERT INTO alliances (code, name) VALUES ('PROBE', 'x')")
        alliance = await find_alliance(connection, "PROBE")
        await connection.execute("DELETE FROM alliances WHERE code = 'PROBE'")
        return just_closed(alliance.open_date(datetime.now(UTC)))
    finally:
        await connection.close()


async def _count(database_url: str, sql: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


def _samples(path) -> dict[tuple[str, str], float]:
    return NightlyMetrics(path).samples


@pytest.mark.anyio
async def test_nightly_seals_clears_writes_and_repeats_harmlessly(database_url, jifen,
                                                                   tmp_path):
    day = await _just_closed_date(database_url)
    await generated_day(database_url, day)
    metrics = tmp_path / "metrics" / "jifen_clearing.prom"
    arguments = ("clearing", "nightly", "--out", str(tmp_path / "out"), "--metrics-file",
                 str(metrics))
    first = await anyio.to_thread.run_sync(jifen, *arguments, "--alliance", ALLIANCE, "--json")
    assert first.exit_code == 0, first.err
    [outcome] = json.loads(first.out)
    assert (outcome["business_date"], outcome["sealed_now"], outcome["cleared_now"]) == (
        str(day), True, True)
    directory = tmp_path / "out" / ALLIANCE / str(day)
    names = {path.name for path in directory.iterdir()}
    assert {"report.txt", "report.csv", "report.json", f"{ALLIANCE}_{day}_HQ.csv"} <= names
    assert len([name for name in names if name.startswith(f"{ALLIANCE}_")]) == 4   # 3 + HQ
    report = json.loads((directory / "report.json").read_text())
    assert report["business_date"] == str(day) and len(report["merchants"]) == 3
    samples = _samples(metrics)
    assert samples[LAST_FAILED, ALLIANCE] == 0
    assert samples[LAST_SUCCESS, ALLIANCE] == samples[LAST_RUN, ALLIANCE] > 0
    assert samples[LAST_DURATION, ALLIANCE] > 0
    # Again, for every alliance (there is one): nothing new sealed or cleared, exit 0.
    again = await anyio.to_thread.run_sync(jifen, *arguments, "--json")
    assert again.exit_code == 0, again.err
    [repeat] = json.loads(again.out)
    assert (repeat["sealed_now"], repeat["cleared_now"]) == (False, False)
    assert repeat["run_ids"] == outcome["run_ids"]
    assert await _count(database_url, "SELECT count(*) FROM clearing_runs") == 1
    assert await _count(database_url, "SELECT count(*) FROM business_days") == 1
    assert json.loads((directory / "report.json").read_text())["merchants"] == \
        report["merchants"]


@pytest.mark.anyio
async def test_a_failed_nightly_exits_1_and_keeps_the_last_success(database_url, jifen,
                                                                    tmp_path):
    day = await _just_closed_date(database_url)
    await generated_day(database_url, day)
    metrics = tmp_path / "jifen_clearing.prom"
    arguments = ("clearing", "nightly", "--out", str(tmp_path / "out"), "--metrics-file",
                 str(metrics))
    ok = await anyio.to_thread.run_sync(jifen, *arguments, "--alliance", ALLIANCE)
    assert ok.exit_code == 0, ok.err
    succeeded_s = _samples(metrics)[LAST_SUCCESS, ALLIANCE]
    failed = await anyio.to_thread.run_sync(jifen, *arguments, "--alliance", "NOPE")
    assert failed.exit_code == 1
    assert "nightly clearing of NOPE failed: no alliance NOPE" in failed.err
    samples = _samples(metrics)
    assert samples[LAST_FAILED, "NOPE"] == 1 and samples[LAST_SUCCESS, "NOPE"] == 0
    assert samples[LAST_FAILED, ALLIANCE] == 0
    assert samples[LAST_SUCCESS, ALLIANCE] == succeeded_s
    # A date still open is refused; the alliance's earlier success stays on record.
    next_year = datetime.now(UTC).date() + timedelta(days=400)
    refused = await anyio.to_thread.run_sync(jifen, *arguments, "--alliance", ALLIANCE,
                                             "--date", str(next_year))
    assert refused.exit_code == 1 and "has not begun" in refused.err
    samples = _samples(metrics)
    assert samples[LAST_FAILED, ALLIANCE] == 1
    assert samples[LAST_SUCCESS, ALLIANCE] == succeeded_s
    assert samples[LAST_RUN, ALLIANCE] >= succeeded_s


def test_an_unreachable_database_still_leaves_the_metric(tmp_path, capsys):
    from jifen.cli import main

    config = tmp_path / "jifen.toml"
    config.write_text('[database]\nurl = "postgresql://nobody@127.0.0.1:1/none"\n'
                      'connect_timeout_s = 2.0\n')
    metrics = tmp_path / "m.prom"
    exit_code = main(["--config", str(config), "clearing", "nightly", "--out",
                      str(tmp_path / "out"), "--metrics-file", str(metrics)])
    assert exit_code == 1
    assert "cannot reach the database" in capsys.readouterr().err
    assert _samples(metrics)[LAST_FAILED, "ALL"] == 1


def test_the_metrics_file_merges_alliances_and_renders_for_node_exporter(tmp_path):
    path = tmp_path / "sub" / "jifen_clearing.prom"
    metrics = NightlyMetrics(path)
    metrics.record("A1", failed=False, ended_s=1_700_000_000.0, duration_s=12.5)
    metrics.write()
    later = NightlyMetrics(path)
    later.record("B2", failed=True, ended_s=1_700_000_100.0, duration_s=0.25)
    later.write()
    text = path.read_text()
    assert f'{LAST_SUCCESS}{{alliance="A1"}} 1700000000' in text
    assert f'{LAST_SUCCESS}{{alliance="B2"}} 0' in text
    assert f'{LAST_FAILED}{{alliance="B2"}} 1' in text
    assert f'{LAST_DURATION}{{alliance="A1"}} 12.500' in text
    assert f"# TYPE {LAST_RUN} gauge" in text
    assert not list(path.parent.glob(".*.tmp"))


def test_writing_to_a_pipe_writes_in_place_and_never_renames_over_it(tmp_path):
    import os
    import stat
    import threading

    from clearing.nightly import write_atomically

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_atomically(fifo, b"report\n")
    reader.join(timeout=10)
    assert received == [b"report\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
