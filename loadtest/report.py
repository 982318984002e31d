"""The results for people: a table on the terminal, and docs/performance.md (`--report`).

The report is regenerated whole by one command, except what follows NOTES_MARKER in the
existing file: analysis written by hand (profiles, levers) survives a new measurement.
"""

from __future__ import annotations

from pathlib import Path

from loadtest.cpu import CpuShare
from loadtest.drive import PhaseResult
from loadtest.host_metrics import BatchStats
from loadtest.latency_target import (
    LATENCY_P99_MS_MAX,
    LATENCY_RATE_TO_PGBENCH,
    LatencyRate,
    latency_target_met,
)
from loadtest.profile import Profile
from loadtest.run import Results

NOTES_MARKER = "<!-- notes: everything below this line is kept when the report is regenerated -->"
ERROR_SAMPLES_SHOWN = 5
# CPU groups that are not the test: busy ones mean the figures are low by their share.
OUTSIDE_GROUPS = ("other", "other postgres")
# Below this many cores taken by processes outside the test, the box counts as quiet.
QUIET_CORES_MAX = 0.05


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _latency_row(name: str, rate: str, phase: PhaseResult) -> list[str]:
    latency = phase.latency
    return [name, rate, *(f"{value:.2f}" for value in (
        latency.p50_ms, latency.p90_ms, latency.p99_ms, latency.p99_9_ms, latency.max_ms)),
        f"{phase.error_count:,d}"]


def table_rows(results: Results) -> list[list[str]]:
    """Header first: what each line measured, its rate, latency in ms, and errors."""
    rows = [["measured", "per second", "p50", "p90", "p99", "p99.9", "max", "errors"]]
    system = results.system
    rows.append(_latency_row("durable authorisations (approved)",
                             _number(system.approved_per_s, 1), system))
    for kind in system.by_kind:
        rows.append([f"  of which {kind.kind}", _number(kind.per_s, 1), "", "", "", "", "", ""])
    rows += _partition_rows(results.partitions)
    if results.latency_phase is not None and results.latency_rate is not None:
        rows.append(_latency_row(_latency_label(results.latency_rate),
                                 _number(results.latency_phase.approved_per_s, 1),
                                 results.latency_phase))
    if results.ceiling is not None:
        rows.append(_latency_row("bare front: echo answered by the front",
                                 _number(results.ceiling.correct_per_s, 1), results.ceiling))
    if results.pgbench is not None:
        pgbench = results.pgbench
        rows.append([f"pgbench tpcb-like ({pgbench.clients} clients, scale {pgbench.scale})",
                     _number(pgbench.tps, 1), "", "", "", "", "",
                     f"{pgbench.failed:,d}"])
    return rows


def _partition_rows(partitions: dict[str, float | None]) -> list[list[str]]:
    """Each partition's approvals/s as its host counted them, and their sum."""
    if not partitions:
        return []
    rows = [[f"  partition {name} (its host's count)", _number(rate, 1), "", "", "", "", "", ""]
            for name, rate in partitions.items()]
    rates = list(partitions.values())
    total = None if None in rates else sum(rate or 0.0 for rate in rates)
    rows.append(["  partitions together", _number(total, 1), "", "", "", "", "", ""])
    return rows


def _latency_label(rate: LatencyRate) -> str:
    if rate.source == "pgbench":
        return f"  at {LATENCY_RATE_TO_PGBENCH:g}x pgbench TPS (open loop)"
    return "  at the given rate (open loop)"


def _latency_lines(rate: LatencyRate | None, phase: PhaseResult | None) -> list[str]:
    """The latency target's verdict, or why the phase did not run."""
    if rate is None:
        return []
    if phase is None or rate.per_s is None:
        return [f"latency phase: skipped: {rate.note}"]
    target = f"p99 < {LATENCY_P99_MS_MAX:g} ms"
    measured = f"p99 {phase.latency.p99_ms:.2f} ms"
    if phase.error_count:
        measured += f", {phase.error_count:,d} errors"
    verdict = "met" if latency_target_met(phase) else "not met"
    if rate.source == "pgbench":
        return [f"latency target, {target} at {rate.per_s:,.0f}/s ({rate.note}): "
                f"{verdict} ({measured})"]
    return [f"latency at {rate.note}, not the target's {LATENCY_RATE_TO_PGBENCH:g}x pgbench: "
            f"{measured} ({target}: {verdict} at this rate)"]


def _align(rows: list[list[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in
                                             zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(rows[0]) - 1)) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows[1:]]
    return "\n".join(lines)


def _ratio_lines(results: Results) -> list[str]:
    ratios = results.ratios
    lines = []
    if ratios.to_pgbench is not None:
        lines.append(f"durable authorisations / pgbench TPS: {ratios.to_pgbench:.2f}x")
    if ratios.to_ceiling is not None:
        lines.append(f"durable authorisations / bare front echoes: {ratios.to_ceiling:.2f}x")
    return lines


def _batch_lines(batches: list[BatchStats]) -> list[str]:
    if not batches:
        return ["host group commits: not read (no /metrics)"]
    return [
        f"host group commits ({stats.url}): {stats.batches:,d} batches of "
        f"{stats.mean_batch_size:,.1f} requests on average (p50 <= "
        f"{_number(stats.p50_batch_size_max)}, p99 <= {_number(stats.p99_batch_size_max)}), "
        f"commit {stats.mean_commit_ms:.2f} ms on average (p99 <= "
        f"{_number(stats.p99_commit_ms_max, 1)} ms)"
        for stats in batches
    ]


def _cpu_line(label: str, shares: list[CpuShare]) -> str:
    if not shares:
        return f"{label}: not measured"
    total = sum(share.cores for share in shares)
    parts = ", ".join(f"{share.group} {share.cores:.2f}" for share in shares
                      if share.cores >= 0.005)
    return f"{label}: {parts} (total {total:.2f})"


def _error_lines(phase: PhaseResult) -> list[str]:
    if not phase.errors:
        return [f"{phase.name}: no errors"]
    lines = [f"{phase.name}: {phase.error_count:,d} errors: " + ", ".join(
        f"{error.kind} {error.code} x{error.count:,d}" for error in phase.errors)]
    for sample in phase.error_samples[:ERROR_SAMPLES_SHOWN]:
        lines.append(f"  {sample.terminal_code} {sample.kind} {sample.reason}: {sample.answer}")
    return lines


def _profile_lines(profiles: list[Profile]) -> list[str]:
    lines = []
    for profile in profiles:
        lines.append(f"{profile.service} (pid {profile.pid}, {profile.samples:,d} busy samples, "
                     f"{profile.raw_path}): own% total% function")
        lines += [f"  {share.self_percent:5.1f} {share.total_percent:5.1f}  {share.function}"
                  for share in profile.top]
    return lines


def _quiet_line(shares: list[CpuShare]) -> list[str]:
    outside = sum(share.cores for share in shares if share.group in OUTSIDE_GROUPS)
    if outside < QUIET_CORES_MAX:
        return []
    return [f"warning: the box was not quiet: processes outside the test used {outside:.2f} "
            "cores during the window, so the figures are low by about that share"]


def _summary_lines(results: Results) -> list[str]:
    lines = (_ratio_lines(results)
             + _latency_lines(results.latency_rate, results.latency_phase)
             + _batch_lines(results.batches) + _quiet_line(results.cpu))
    lines.append(_cpu_line("CPU during the window, in cores", results.cpu))
    if results.latency_phase is not None:
        lines.append(_cpu_line("CPU during the latency window", results.latency_phase_cpu))
    if results.ceiling is not None:
        lines.append(_cpu_line("CPU during the bare front window", results.ceiling_cpu))
    lines.append(f"generator CPU: {results.system.generator_cpu_s / results.system.window_s:.2f}"
                 " cores")
    lines += _error_lines(results.system)
    if results.latency_phase is not None:
        lines += _error_lines(results.latency_phase)
    if results.ceiling is not None:
        lines += _error_lines(results.ceiling)
    return lines


def render_text(results: Results) -> str:
    settings = "; ".join(f"{name} {value}" for name, value in results.settings.items())
    parts = [f"jifen loadtest, {results.started_at}: {settings}", "",
             _align(table_rows(results)), "", *_summary_lines(results)]
    if results.profiles:
        parts += ["", *_profile_lines(results.profiles)]
    return "\n".join(parts) + "\n"


def render_markdown(results: Results) -> str:
    machine = results.machine
    lines = [
        "# Performance",
        "",
        "Generated by `jifen loadtest --report docs/performance.md`; do not edit above the notes"
        " marker, rerun the command instead.",
        "",
        "## Machine",
        "",
        f"- {machine.cpus} CPUs: {machine.cpu_model}; {machine.memory_gib:g} GiB of memory",
        f"- Linux {machine.kernel}, Python {machine.python}, PostgreSQL {machine.postgres}",
        f"- code at commit {machine.commit}; measured {results.started_at}",
        "- the load generator, PostgreSQL and the three services share the machine",
        "",
        "## Command",
        "",
        "```",
        results.command,
        "```",
        "",
        *[f"- {name}: {value}" for name, value in results.settings.items()],
        "",
        "## Results",
        "",
        "Latency in milliseconds, from a request's write to its answer's read at the terminal "
        "(open loop: from its scheduled time), every answer in an HdrHistogram. *Durable "
        "authorisations* are approved answers (39 = 00): the host answers only after the batch "
        "holding their postings has committed. In a closed-loop run, pgbench runs next, and the "
        f"system is then driven as an open loop at {LATENCY_RATE_TO_PGBENCH:g}x pgbench's TPS, "
        f"rounded: the latency target is p99 < {LATENCY_P99_MS_MAX:g} ms there (without "
        "pgbench, the phase runs only at a rate given with `--latency-rate`). "
        "Errors are answers with an unexpected code, or none, in any phase.",
        "",
        _markdown_table(table_rows(results)),
        "",
        *[f"- {line}" for line in _summary_lines(results) if not line.startswith("  ")],
        "",
    ]
    if results.profiles:
        lines += ["## Profiles (py-spy, during the window)", "", "```",
                  *_profile_lines(results.profiles), "```", ""]
    return "\n".join(lines)


def write_report(path: Path, results: Results) -> None:
    """Write the report, keeping whatever followed NOTES_MARKER in the file it replaces."""
    notes = f"{NOTES_MARKER}\n"
    if path.exists():
        text = path.read_text()
        if NOTES_MARKER in text:
            notes = NOTES_MARKER + text.split(NOTES_MARKER, 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.partial")
    staging.write_text(render_markdown(results) + "\n" + notes)
    staging.replace(path)
