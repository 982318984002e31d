"""A merchant's period-end file of 10^5 purchases, end to end: issue 19's target (under a
minute).

    python -m loadtest.import_bench [--lines 100000] [--cards 20000] [--terminal]
                                    [--data-dir DIR] [--json]

The load-test alliance (loadtest/provision.py) on a database of this benchmark's own (the
embedded server under --data-dir, or $JIFEN_DATABASE_URL's as it is); its account host as a
child process, as `jifen up` runs it. A file of --lines purchases over --cards cards (new line
ids each run) is written, then `jifen import purchases` runs as a child process, as an
operator would run it, and is timed from spawn to exit; then the same file again (every line a
duplicate). The machine's load average is read before and after (the box may be shared).

With --terminal the switch and the front run too, and one terminal of the merchant sends
balance inquiries one after another during the first pass: how long a terminal waits while a
file is posted (the host queues at most 4,000 of its commands at a time for the writer).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec

from database.migrate import migrate
from devices.terminal_client import TerminalClient
from loadtest.bench_database import bench_database_url
from loadtest.provision import ensure_fleet, merchant_code, terminal_code
from loadtest.services import Services, SystemPorts, system_sections, write_config

DATA_DIR = "var/import-bench-pg"
WORK_DIR = "var/import-bench"
DATABASE_NAME = "jifen_import_bench"
LINES_DEFAULT = 100_000
CARDS_DEFAULT = 20_000
# The import's own limit: far above the target, so that a slow run is measured, not cut off.
IMPORT_TIMEOUT_S = 600.0


class Pass(msgspec.Struct, frozen=True):
    seconds: float
    lines_per_s: float
    posted: int
    duplicate: int
    rejected: int
    pending: int


class TerminalWaits(msgspec.Struct, frozen=True):
    """A terminal's inquiries during the first pass, one after another."""

    inquiries: int
    latency_ms_p50: float
    latency_ms_p99: float
    latency_ms_max: float
    not_approved: int


class Result(msgspec.Struct, frozen=True):
    lines: int
    cards: int
    first: Pass        # every line new
    again: Pass        # the same file: every line a duplicate
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    cpus: int
    terminal: TerminalWaits | None = None


def write_file(path: Path, pans: list[str], lines: int) -> None:
    """`lines` purchases of 1.00 to 999.99 yuan over the cards, today, new line ids."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    today = datetime.now(UTC).date().isoformat()
    with path.open("w", encoding="utf-8") as out:
        out.write("line_id,pan,amount_yuan,business_date,receipt\n")
        for number in range(lines):
            amount = 100 + number * 7919 % 99_900
            out.write(f"{stamp}-{number},{pans[number % len(pans)]},{amount // 100}."
                      f"{amount % 100:02d},{today},R{number}\n")


def _import(config_path: Path, file: Path, report: Path) -> Pass:
    command = [sys.executable, "-m", "jifen.cli", "--config", str(config_path), "import",
               "purchases", "--merchant", merchant_code(1), str(file), "--json", "--report",
               str(report), "--wait-s", "30"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=IMPORT_TIMEOUT_S,
                          check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"jifen import purchases exited {done.returncode}: {done.stderr}")
    report_json = json.loads(done.stdout)
    lines = report_json["line_count"]
    return Pass(seconds, lines / seconds, report_json["posted"], report_json["duplicate"],
                report_json["rejected"], report_json["pending"])


async def measure(
    database_url: str, lines: int, cards: int, work_dir: Path, *, terminal: bool = False,
) -> Result:
    await migrate(database_url)
    fleet = await ensure_fleet(database_url, 8, cards)
    work_dir.mkdir(parents=True, exist_ok=True)
    file = work_dir / "purchases.csv"
    write_file(file, fleet.pans, lines)
    ports = SystemPorts.free()
    config_path = work_dir / "system.toml"
    write_config(config_path, system_sections(database_url, ports))
    services = Services(config_path, work_dir / "logs")
    load_before = os.getloadavg()
    waits = None
    try:
        await services.start("host", ports.host)
        if terminal:
            await services.start("switch", ports.switch)
            await services.start("front", ports.front)
            first, waits = await _with_terminal(
                ports.front, fleet.pans[0],
                lambda: _import(config_path, file, work_dir / "report.csv"))
        else:
            first = await anyio.to_thread.run_sync(_import, config_path, file,
                                                   work_dir / "report.csv")
        again = await anyio.to_thread.run_sync(_import, config_path, file,
                                               work_dir / "report-again.csv")
    finally:
        await services.stop()
    return Result(lines, len(fleet.pans), first, again, load_before, os.getloadavg(),
                  os.cpu_count() or 0, waits)


async def _with_terminal(
    front_port: int, pan: str, run_import: Callable[[], Pass],
) -> tuple[Pass, TerminalWaits]:
    """The import in a thread while a terminal asks for the card's balance again and again."""
    latencies_ms: list[float] = []
    declined = 0
    done = anyio.Event()
    result: list[Pass] = []

    async def importing() -> None:
        result.append(await anyio.to_thread.run_sync(run_import))
        done.set()

    async with TerminalClient("127.0.0.1", front_port, terminal_code(1),
                              merchant_code(1)) as client:
        await client.sign_on()
        async with anyio.create_task_group() as group:
            group.start_soon(importing)
            while not done.is_set():
                started = time.perf_counter()
                answer = await client.inquiry(pan)
                latencies_ms.append((time.perf_counter() - started) * 1000)
                declined += answer.get("39") != "00"
    ordered = sorted(latencies_ms)
    return result[0], TerminalWaits(
        len(ordered), ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)],
        ordered[-1], declined)


def render(result: Result) -> str:
    def line(name: str, done: Pass) -> str:
        return (f"{name:6s} {done.seconds:8.1f} s  {done.lines_per_s:8.0f} lines/s  posted"
                f" {done.posted}, duplicate {done.duplicate}, rejected {done.rejected},"
                f" pending {done.pending}")
    load = " ".join(f"{value:.2f}" for value in result.load_before)
    after = " ".join(f"{value:.2f}" for value in result.load_after)
    lines = [f"jifen import purchases, {result.lines:,d} lines over {result.cards:,d} cards",
             line("first", result.first), line("again", result.again),
             f"load average before {load}, after {after} ({result.cpus} CPUs)"]
    if result.terminal is not None:
        waits = result.terminal
        lines.append(f"a terminal's inquiries during the first pass: {waits.inquiries}, p50"
                     f" {waits.latency_ms_p50:.1f} ms, p99 {waits.latency_ms_p99:.1f} ms, max"
                     f" {waits.latency_ms_max:.1f} ms, {waits.not_approved} not approved")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.import_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=LINES_DEFAULT)
    parser.add_argument("--cards", type=int, default=CARDS_DEFAULT)
    parser.add_argument("--data-dir", default=DATA_DIR)
    parser.add_argument("--work-dir", default=WORK_DIR)
    parser.add_argument("--terminal", action="store_true",
                        help="time a terminal's inquiries during the first pass")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    url = bench_database_url(args.data_dir, DATABASE_NAME)
    result = anyio.run(lambda: measure(url, args.lines, args.cards,
                                       Path(args.work_dir), terminal=args.terminal))
    print(json.dumps(msgspec.to_builtins(result), indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
