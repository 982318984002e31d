"""The import benchmark's file: every line reads as a good purchase (the bench measures
posting, not rejecting), with line ids new on each run."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from back_office.purchase_imports import Alliance, read_file
from loadtest.import_bench import Pass, Result, TerminalWaits, render, write_file
from tests.e2e.system import CARDS


def test_every_line_of_the_file_is_a_good_purchase(tmp_path):
    path = tmp_path / "purchases.csv"
    write_file(path, CARDS[:3], 500)
    lines, rejected = read_file(path.read_bytes(), Alliance(ZoneInfo("Asia/Shanghai"),
                                                            time(23)), datetime.now(UTC))
    assert rejected == [] and len(lines) == 500
    assert {line.pan for line in lines} == set(CARDS[:3])
    assert len({line.line_id for line in lines}) == 500
    assert all(100 <= line.amount_fen < 100_000 for line in lines)


def test_the_rendering_names_both_passes_the_load_and_the_terminal():
    done = Pass(30.0, 3333.3, 100_000, 0, 0, 0)
    again = Pass(7.0, 14285.7, 0, 100_000, 0, 0)
    text = render(Result(100_000, 20_000, done, again, (5.0, 4.0, 3.0), (6.0, 4.5, 3.5), 2,
                         TerminalWaits(1000, 4.0, 500.0, 1400.0, 0)))
    assert "first      30.0 s" in text and "posted 0, duplicate 100000" in text
    assert "load average before 5.00 4.00 3.00, after 6.00 4.50 3.50 (2 CPUs)" in text
    assert "p99 500.0 ms, max 1400.0 ms, 0 not approved" in text
