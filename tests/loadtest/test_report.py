"""The numbers a run prints: the latency histogram, the host's batch sizes, and the table and
report built from them."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from loadtest.cpu import CpuShare
from loadtest.drive import ErrorCount, KindResult, PhaseResult
from loadtest.host_metrics import batch_stats, parse_snapshot
from loadtest.latency import LatencyRecorder, LatencySummary
from loadtest.latency_target import LatencyRate, choose_latency_rate
from loadtest.machine import Machine
from loadtest.pgbench import PgbenchResult
from loadtest.report import NOTES_MARKER, render_markdown, render_text, table_rows, write_report
from loadtest.run import Ratios, Results
from loadtest.tally import ErrorSample


class TestLatencyRecorder:
    def test_percentiles_of_a_known_distribution(self) -> None:
        recorder = LatencyRecorder()
        for millisecond in range(1, 1_001):
            recorder.record_us(millisecond * 1_000)
        summary = recorder.summary()
        assert summary.count == 1_000
        assert summary.p50_ms == pytest.approx(500, rel=0.002)
        assert summary.p90_ms == pytest.approx(900, rel=0.002)
        assert summary.p99_ms == pytest.approx(990, rel=0.002)
        assert summary.p99_9_ms == pytest.approx(999, rel=0.002)
        assert summary.max_ms == pytest.approx(1_000, rel=0.002)
        assert summary.mean_ms == pytest.approx(500.5, rel=0.002)

    def test_out_of_range_values_are_clamped_not_lost(self) -> None:
        recorder = LatencyRecorder()
        recorder.record_us(0)
        recorder.record_us(10**12)
        assert recorder.count == 2
        assert recorder.summary().max_ms == pytest.approx(60_000, rel=0.002)

    def test_empty(self) -> None:
        assert LatencyRecorder().summary() == LatencySummary(0, 0, 0, 0, 0, 0, 0)


def _metrics(batches: int, requests: int, small: int, commits_s: float) -> str:
    """A /metrics page: `small` batches of at most 10 requests, the rest of at most 100."""
    return f"""# TYPE jifen_host_batch_size histogram
jifen_host_batch_size_bucket{{le="10.0"}} {small}
jifen_host_batch_size_bucket{{le="100.0"}} {batches}
jifen_host_batch_size_bucket{{le="+Inf"}} {batches}
jifen_host_batch_size_count {batches}
jifen_host_batch_size_sum {requests}
# TYPE jifen_host_commit_seconds histogram
jifen_host_commit_seconds_bucket{{le="0.005"}} {batches}
jifen_host_commit_seconds_bucket{{le="+Inf"}} {batches}
jifen_host_commit_seconds_count {batches}
jifen_host_commit_seconds_sum {commits_s}
# TYPE jifen_host_requests counter
jifen_host_requests_total{{mti="0200",response_code="00"}} {requests}
"""


class TestBatchStats:
    def test_the_window_is_the_difference_of_two_scrapes(self) -> None:
        before = parse_snapshot(_metrics(batches=10, requests=50, small=10, commits_s=0.02))
        after = parse_snapshot(_metrics(batches=110, requests=5_050, small=20, commits_s=0.32))
        stats = batch_stats("url", before, after)
        assert stats is not None
        assert (stats.batches, stats.requests, stats.mean_batch_size) == (100, 5_000, 50.0)
        assert (stats.p50_batch_size_max, stats.p99_batch_size_max) == (100.0, 100.0)
        assert stats.mean_commit_ms == pytest.approx(3.0)
        assert stats.p99_commit_ms_max == pytest.approx(5.0)

    def test_no_metrics_no_stats(self) -> None:
        assert batch_stats("url", None, parse_snapshot("")) is None
        assert parse_snapshot("").batch_size is None


def _phase(name: str, approved_per_s: float, errors: list[ErrorCount]) -> PhaseResult:
    return PhaseResult(
        name=name, window_s=10.0, sent=10_000, answered=10_000,
        approved=int(approved_per_s * 10), approved_per_s=approved_per_s,
        correct_per_s=approved_per_s,
        by_kind=[KindResult("000000", 8_000, 8_000, 800.0), KindResult("310000", 2_000, 2_000,
                                                                       200.0)],
        latency=LatencySummary(10_000, 1.5, 2.5, 4.25, 9.0, 12.0, 1.7), errors=errors,
        error_samples=[ErrorSample("LT000001", "000000", "91", {"t": "0210", "39": "91"})]
        if errors else [],
        generator_cpu_s=1.0,
    )


def _results(errors: list[ErrorCount] | None = None) -> Results:
    batches = batch_stats("http://host/metrics", parse_snapshot(_metrics(0, 0, 0, 0.0)),
                          parse_snapshot(_metrics(100, 1_000, 100, 0.3)))
    assert batches is not None
    return Results(
        started_at="2026-01-01T00:00:00+00:00", command="jifen loadtest --start",
        machine=Machine(2, "Some CPU", 24.0, "3.11.7", "6.1", "18.1", "abc1234"),
        settings={"terminals": "32"},
        system=_phase("system", 1_000.0, errors or []),
        batches=[batches],
        cpu=[CpuShare("postgres", 0.8), CpuShare("host", 0.5)],
        ceiling=_phase("front", 4_000.0, []), ceiling_cpu=[CpuShare("front", 0.9)],
        pgbench=PgbenchResult(500.0, 30.0, 0, 16, 2, 16, 10, "on", "on"),
        ratios=Ratios(to_pgbench=2.0, to_ceiling=0.25), profiles=[],
    )


class TestTable:
    def test_rows(self) -> None:
        rows = table_rows(_results())
        assert rows[0] == ["measured", "per second", "p50", "p90", "p99", "p99.9", "max",
                           "errors"]
        assert rows[1] == ["durable authorisations (approved)", "1,000.0", "1.50", "2.50",
                           "4.25", "9.00", "12.00", "0"]
        assert rows[2][:2] == ["  of which 000000", "800.0"]
        assert rows[4][:2] == ["bare front: echo answered by the front", "4,000.0"]
        assert rows[5][:2] == ["pgbench tpcb-like (16 clients, scale 16)", "500.0"]

    def test_text_has_the_ratios_batches_and_errors(self) -> None:
        text = render_text(_results([ErrorCount("000000", "91", 3)]))
        assert "durable authorisations / pgbench TPS: 2.00x" in text
        assert "durable authorisations / bare front echoes: 0.25x" in text
        assert "100 batches of 10.0 requests on average" in text
        assert "system: 3 errors: 000000 91 x3" in text
        assert "LT000001 000000 91" in text
        assert "postgres 0.80, host 0.50 (total 1.30)" in text

    def test_markdown_report(self) -> None:
        markdown = render_markdown(_results())
        assert "- 2 CPUs: Some CPU; 24 GiB of memory" in markdown
        assert "| durable authorisations (approved) | 1,000.0 | 1.50 |" in markdown
        assert "jifen loadtest --start" in markdown


def _with_latency_phase(rate: LatencyRate, errors: list[ErrorCount] | None = None,
                        p99_ms: float = 4.25) -> Results:
    phase = _phase("latency", 350.0, errors or [])
    phase = msgspec.structs.replace(
        phase, latency=msgspec.structs.replace(phase.latency, p99_ms=p99_ms))
    return msgspec.structs.replace(_results(), latency_rate=rate, latency_phase=phase,
                                   latency_phase_cpu=[CpuShare("host", 0.2)])


class TestLatencyPhase:
    """At 0.7x the run's pgbench TPS (the fixture's 500.0: 350/s), judged on p99 < 15 ms."""

    def test_its_row_follows_the_system_and_its_errors_count(self) -> None:
        results = _with_latency_phase(choose_latency_rate(_results().pgbench),
                                      [ErrorCount("000000", "96", 2)])
        rows = table_rows(results)
        assert rows[4] == ["  at 0.7x pgbench TPS (open loop)", "350.0", "1.50", "2.50",
                           "4.25", "9.00", "12.00", "2"]
        assert rows[5][0] == "bare front: echo answered by the front"
        assert results.error_count == 2
        text = render_text(results)
        assert "latency: 2 errors: 000000 96 x2" in text
        assert "CPU during the latency window: host 0.20 (total 0.20)" in text
        assert ("latency target, p99 < 15 ms at 350/s (0.7x pgbench's 500.0 TPS): not met "
                "(p99 4.25 ms, 2 errors)") in text

    def test_met_when_p99_is_under_15_ms(self) -> None:
        text = render_text(_with_latency_phase(choose_latency_rate(_results().pgbench)))
        assert ("latency target, p99 < 15 ms at 350/s (0.7x pgbench's 500.0 TPS): met "
                "(p99 4.25 ms)") in text

    def test_not_met_at_15_ms_or_more(self) -> None:
        results = _with_latency_phase(choose_latency_rate(_results().pgbench), p99_ms=38.6)
        assert ": not met (p99 38.60 ms)" in render_text(results)
        assert "| 350.0 | 1.50 | 2.50 | 38.60 |" in render_markdown(results)

    def test_without_pgbench_it_is_skipped_and_says_why(self) -> None:
        results = msgspec.structs.replace(_results(), pgbench=None,
                                          latency_rate=choose_latency_rate(None))
        assert not any("open loop" in row[0] for row in table_rows(results))
        text = render_text(results)
        assert "latency phase: skipped: no pgbench in this run" in text
        assert "--latency-rate PER_S sets the rate" in text
        assert "latency phase: skipped: no pgbench" in render_markdown(results)

    def test_a_given_rate_is_not_the_targets(self) -> None:
        results = _with_latency_phase(choose_latency_rate(None, 350.0))
        assert table_rows(results)[4][0] == "  at the given rate (open loop)"
        assert ("latency at 350/s as given (--latency-rate), not the target's 0.7x pgbench: "
                "p99 4.25 ms (p99 < 15 ms: met at this rate)") in render_text(results)

    def test_absent_without_a_closed_loop(self) -> None:
        results = _results()
        assert not any("open loop" in row[0] for row in table_rows(results))
        assert "latency" not in render_text(results)

    def test_the_report_states_the_rule(self) -> None:
        markdown = render_markdown(_results())
        assert "open loop at 0.7x pgbench's TPS" in markdown
        assert "p99 < 15 ms there" in markdown
        assert "half" not in markdown


class TestWriteReport:
    def test_notes_after_the_marker_survive_a_new_report(self, tmp_path: Path) -> None:
        path = tmp_path / "docs" / "performance.md"
        write_report(path, _results())
        assert path.read_text().endswith(NOTES_MARKER + "\n")
        path.write_text(path.read_text() + "\nProfiles show the codec first.\n")
        write_report(path, _results())
        text = path.read_text()
        assert text.count("# Performance") == 1
        assert text.endswith(NOTES_MARKER + "\n\nProfiles show the codec first.\n")


class TestQuietBox:
    def test_a_busy_box_is_flagged(self) -> None:
        results = _results()
        assert "not quiet" not in render_text(results)
        noisy = msgspec.structs.replace(
            results, cpu=[CpuShare("other", 0.3), CpuShare("other postgres", 0.1)])
        assert "processes outside the test used 0.40 cores" in render_text(noisy)
