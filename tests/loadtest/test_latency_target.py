"""The latency phase's rate: 0.7x the TPS of the same run's pgbench, a given rate instead, or no
phase and why; and the target's verdict on a measured phase."""

from __future__ import annotations

import msgspec
import pytest

from loadtest.drive import ErrorCount, PhaseResult
from loadtest.latency import LatencySummary
from loadtest.latency_target import (
    LATENCY_RATE_TO_PGBENCH,
    LatencyRate,
    choose_latency_rate,
    latency_target_met,
)
from loadtest.pgbench import PgbenchResult


def _pgbench(tps: float) -> PgbenchResult:
    return PgbenchResult(tps, 10.0, 0, 16, 2, 16, 20, "on", "on")


class TestChooseLatencyRate:
    def test_the_factor_is_the_targets(self) -> None:
        assert LATENCY_RATE_TO_PGBENCH == 0.7

    @pytest.mark.parametrize(("tps", "per_s"), [
        (1_441.6, 1_009.0),   # 1,009.12
        (2_000.0, 1_400.0),
        (1_000.7, 700.0),     # 700.49 rounds down
        (1_000.8, 701.0),     # 700.56 rounds up
    ])
    def test_seven_tenths_of_pgbench_rounded(self, tps: float, per_s: float) -> None:
        rate = choose_latency_rate(_pgbench(tps))
        assert (rate.per_s, rate.source) == (per_s, "pgbench")
        assert rate.note == f"0.7x pgbench's {tps:,.1f} TPS"

    def test_without_pgbench_there_is_no_phase_and_the_note_says_why(self) -> None:
        rate = choose_latency_rate(None)
        assert (rate.per_s, rate.source) == (None, "none")
        assert "no pgbench in this run" in rate.note
        assert "--latency-rate" in rate.note

    def test_a_pgbench_that_sustained_nothing_gives_no_phase(self) -> None:
        rate = choose_latency_rate(_pgbench(0.0))
        assert (rate.per_s, rate.source) == (None, "none")
        assert "0.0 TPS" in rate.note

    @pytest.mark.parametrize("pgbench", [None, _pgbench(1_441.6)])
    def test_a_given_rate_wins(self, pgbench: PgbenchResult | None) -> None:
        rate = choose_latency_rate(pgbench, 750.0)
        assert rate == LatencyRate(750.0, "given", "750/s as given (--latency-rate)")


def _phase(p99_ms: float, count: int = 1_000, errors: int = 0) -> PhaseResult:
    return PhaseResult(
        name="latency", window_s=1.0, sent=count, answered=count, approved=count,
        approved_per_s=float(count), correct_per_s=float(count), by_kind=[],
        latency=LatencySummary(count, 1.0, 2.0, p99_ms, p99_ms, p99_ms, 1.0),
        errors=[ErrorCount("000000", "96", errors)] if errors else [], error_samples=[],
        generator_cpu_s=0.1)


class TestLatencyTargetMet:
    def test_p99_below_15_ms(self) -> None:
        assert latency_target_met(_phase(14.99))

    def test_p99_at_or_above_15_ms(self) -> None:
        assert not latency_target_met(_phase(15.0))
        assert not latency_target_met(_phase(38.6))

    def test_not_without_answers_or_with_errors(self) -> None:
        assert not latency_target_met(_phase(0.0, count=0))
        assert not latency_target_met(_phase(5.0, errors=1))

    def test_the_rate_round_trips_in_json(self) -> None:
        rate = choose_latency_rate(_pgbench(1_441.6))
        assert msgspec.json.decode(msgspec.json.encode(rate), type=LatencyRate) == rate
