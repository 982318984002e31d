"""The nightly clearing (`jifen clearing nightly`, run by deploy/systemd/jifen-clearing.timer):
for each alliance, seal the business date that just closed if it is not sealed, clear it if it
is not cleared, and write its report, settlement files and daily digest (日报,
docs/reports.md) to OUT/<alliance>/<date>/.

Idempotent: a second call for the same date finds it sealed and cleared, and only writes the
files again (atomically, the same figures). Every call, failed or not, leaves a Prometheus
textfile-collector file (node_exporter --collector.textfile.directory) with, per alliance, when
the last nightly ended, when the last one succeeded, whether the last one failed and how long
it took; the alert rules (deploy/prometheus/jifen-alerts.yml) fire on a failed run and on no
success in 26 hours.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec

from clearing.alliance import find_alliance
from clearing.digest import DailyDigest, build_digest
from clearing.digest import render_csv as digest_csv
from clearing.digest import render_json as digest_json
from clearing.digest import render_table as digest_table
from clearing.errors import AlreadyClearedError, AlreadySealedError
from clearing.files import write_settlement_files
from clearing.partitions import PartitionSetup
from clearing.reports import ClearingReport, build_report, render_csv, render_json, render_table
from clearing.run import run_clearing
from clearing.sealing import close_day, sealed_at
from clearing.store import runs_of

METRICS_FILE_DEFAULT = "var/metrics/jifen_clearing.prom"
SEALED_BY = "nightly"
REPORT_NAMES = ("report.txt", "report.csv", "report.json")
DIGEST_NAMES = ("digest.txt", "digest.csv", "digest.json")

LAST_RUN = "jifen_clearing_last_run_timestamp_seconds"
LAST_SUCCESS = "jifen_clearing_last_success_timestamp_seconds"
LAST_FAILED = "jifen_clearing_last_run_failed"
LAST_DURATION = "jifen_clearing_last_run_duration_seconds"
METRIC_HELP = {
    LAST_RUN: "Unix time the last nightly clearing of the alliance ended, failed or not.",
    LAST_SUCCESS: "Unix time the last successful nightly clearing of the alliance ended "
                  "(0: never).",
    LAST_FAILED: "1 if the last nightly clearing of the alliance failed, else 0.",
    LAST_DURATION: "Seconds the last nightly clearing of the alliance took.",
}
_SAMPLE = re.compile(r'^(?P<name>[a-z_]+)\{alliance="(?P<alliance>[^"\\]*)"\} (?P<value>\S+)$')


class NightlyOutcome(msgspec.Struct, frozen=True):
    alliance: str
    business_date: date
    sealed_now: bool                # False: it was sealed before
    cleared_now: bool               # False: it was cleared before
    run_ids: list[int]
    directory: str
    files: list[str]


def just_closed(open_date: date) -> date:
    """The business date that closed at the last cutover."""
    return open_date - timedelta(days=1)


async def nightly_alliance(
    conn: asyncpg.Connection, alliance_code: str, day: date | None, out_dir: Path,
    now: datetime, partitions: PartitionSetup | None = None,
) -> NightlyOutcome:
    """Seal, clear and write one alliance's date (default: the one that just closed)."""
    alliance = await find_alliance(conn, alliance_code)
    day = day or just_closed(alliance.open_date(now))
    sealed_now = cleared_now = False
    if await sealed_at(conn, alliance.id, day) is None:
        try:
            await close_day(conn, alliance.code, day, now, SEALED_BY, partitions)
            sealed_now = True
        except AlreadySealedError:       # an operator sealed it meanwhile: just as good
            pass
    if not await runs_of(conn, alliance.id, day):
        try:
            await run_clearing(conn, alliance.code, day, partitions=partitions)
            cleared_now = True
        except AlreadyClearedError:      # cleared meanwhile
            pass
    report = await build_report(conn, alliance.code, day, now=now, partitions=partitions)
    directory = out_dir / _safe(alliance.code) / str(day)
    files = write_report_files(report, directory)
    digest = await build_digest(conn, alliance.code, day, now, partitions)
    files += write_digest_files(digest, directory)
    return NightlyOutcome(alliance.code, day, sealed_now, cleared_now,
                          [run.run_id for run in report.runs], str(directory),
                          [path.name for path in files])


def write_report_files(report: ClearingReport, directory: Path) -> list[Path]:
    """The report as table, CSV and JSON, and the settlement files, into `directory`."""
    written = _write_all(directory, REPORT_NAMES, (
        render_table(report).encode(), render_csv(report).encode("utf-8-sig"),
        render_json(report)))
    return written + write_settlement_files(report, directory)


def write_digest_files(digest: DailyDigest, directory: Path) -> list[Path]:
    """The digest as table, CSV (with a byte order mark, for spreadsheets) and JSON."""
    return _write_all(directory, DIGEST_NAMES, (
        digest_table(digest).encode(), digest_csv(digest).encode("utf-8-sig"),
        digest_json(digest)))


def _write_all(directory: Path, names: tuple[str, ...], contents: tuple[bytes, ...]
               ) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in zip(names, contents, strict=True):
        path = directory / name
        write_atomically(path, content)
        written.append(path)
    return written


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def write_atomically(path: Path, content: bytes) -> None:
    """Write a temporary file beside `path`, flush it to disk, rename it over `path`.

    Only a regular file (or a new one) is replaced so: a device, a pipe or a socket
    (/dev/null, /dev/stdout) is written in place, never renamed over."""
    if path.exists() and not path.is_file():
        with path.open("wb") as stream:
            stream.write(content)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as stream:
        stream.write(content)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


class NightlyMetrics:
    """The textfile-collector file: this run's samples over those of earlier runs, so that
    every alliance keeps its own series and a failed run keeps the last success's time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.samples: dict[tuple[str, str], float] = {}
        try:
            text = path.read_text()
        except FileNotFoundError:
            text = ""
        for line in text.splitlines():
            match = _SAMPLE.match(line)
            if match and match["name"] in METRIC_HELP:
                try:
                    self.samples[match["name"], match["alliance"]] = float(match["value"])
                except ValueError:
                    continue

    def record(self, alliance: str, failed: bool, ended_s: float, duration_s: float) -> None:
        self.samples[LAST_RUN, alliance] = ended_s
        self.samples[LAST_FAILED, alliance] = 1.0 if failed else 0.0
        self.samples[LAST_DURATION, alliance] = duration_s
        if not failed:
            self.samples[LAST_SUCCESS, alliance] = ended_s
        else:
            self.samples.setdefault((LAST_SUCCESS, alliance), 0.0)

    def render(self) -> str:
        lines = []
        for name, help_text in METRIC_HELP.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            for (sample_name, alliance), value in sorted(self.samples.items()):
                if sample_name == name:
                    lines.append(f'{name}{{alliance="{alliance}"}} {_number(value)}')
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        write_atomically(self.path, self.render().encode())


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.3f}"
