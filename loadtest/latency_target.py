"""The latency phase: after a closed loop, the same system as an open loop at a rate taken from
the pgbench run of the same load test, where the latency target is judged.

Pure: the rate from pgbench's result (or a rate given instead), and whether a measured phase
meets the target. run.py drives the phase; report.py prints the verdict.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from loadtest.drive import PhaseResult
from loadtest.pgbench import PgbenchResult

# The speed target: p99 < 15 ms in an open loop at 0.7x the TPS pgbench sustains in the same run.
LATENCY_RATE_TO_PGBENCH = 0.7
LATENCY_P99_MS_MAX = 15.0   # the same target's bound; met only if p99 is below it

RateSource = Literal["pgbench", "given", "none"]


class LatencyRate(msgspec.Struct, frozen=True):
    """The latency phase's rate and where it came from, or why the phase did not run."""

    per_s: float | None     # requests/s, all terminals together; None: the phase was skipped
    source: RateSource      # "pgbench": the target's rate; "given": set by hand; "none": skipped
    note: str               # how per_s was chosen, or why there is none

    @classmethod
    def skipped(cls, why: str) -> LatencyRate:
        return cls(per_s=None, source="none", note=why)


def choose_latency_rate(pgbench: PgbenchResult | None,
                        rate_per_s_given: float | None = None) -> LatencyRate:
    """A given rate wins; else round(0.7 x pgbench's TPS); else no phase, and why."""
    if rate_per_s_given is not None:
        assert rate_per_s_given > 0, rate_per_s_given
        return LatencyRate(per_s=rate_per_s_given, source="given",
                           note=f"{rate_per_s_given:,g}/s as given (--latency-rate)")
    if pgbench is None:
        return LatencyRate.skipped(
            f"no pgbench in this run to take {LATENCY_RATE_TO_PGBENCH:g}x of its TPS "
            "(--latency-rate PER_S sets the rate without it)")
    per_s = round(LATENCY_RATE_TO_PGBENCH * pgbench.tps)
    if per_s < 1:
        return LatencyRate.skipped(f"pgbench sustained {pgbench.tps:,.1f} TPS, no rate to "
                                   f"take {LATENCY_RATE_TO_PGBENCH:g}x of")
    return LatencyRate(per_s=float(per_s), source="pgbench",
                       note=f"{LATENCY_RATE_TO_PGBENCH:g}x pgbench's {pgbench.tps:,.1f} TPS")


def latency_target_met(phase: PhaseResult) -> bool:
    """p99 under the bound, over a phase that had answers and no errors."""
    return (phase.latency.count > 0 and phase.error_count == 0
            and phase.latency.p99_ms < LATENCY_P99_MS_MAX)
