"""The long form of the fuzz test (issue 8): a million hostile frames at a system of its own.

    python -m loadtest.fuzz --frames 1000000

It starts host, switch and front as child processes (embedded PostgreSQL under var/fuzz-pg,
or $JIFEN_DATABASE_URL), signs on a load-test terminal, and sends cases from
loadtest/fuzz_cases.py made of that terminal's requests, each checked against the oracle of
loadtest/fuzz_oracle.py (12 or 30 answered exactly, or the connection closed; cases still
valid are not sent). At the end: the front is alive and serves a good terminal, no table has
a row more or less (a posting, a request record, a sign-on, a store-and-forward entry would
add one), `jifen audit` passes, and the front's log has no error. It prints the counts by
outcome and the throughput, and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import asyncpg
import msgspec

from back_office.ledger_check import audit_database
from database.migrate import migrate
from devices.terminal_client import TerminalClient
from loadtest.fuzz_cases import Case, Station, make_case, seed_messages
from loadtest.fuzz_drive import FuzzDriver, Tally
from loadtest.provision import ensure_fleet
from loadtest.services import Services, SystemPorts, system_sections, write_config
from runtime.logging import configure_logging

DEFAULT_DATA_DIR = "var/fuzz-pg"
DEFAULT_WORK_DIR = "var/fuzz"
FUZZ_DATABASE = "jifen_fuzz"
PROGRESS_EVERY_S = 10.0
AUDIT_TIMEOUT_S = 300.0
CLIENT_TIMEOUT_S = 10.0
# Front log lines that mean a bug: an error, or an exception's traceback.
_LOG_ERROR_MARKERS = (b'"level": "error"', b'"level": "critical"', b"Traceback")


class Summary(msgspec.Struct):
    frames_target: int
    tally: Tally
    front_alive: bool
    good_terminal_served: bool
    tables_changed: dict[str, tuple[int, int]]
    audit_violations: int
    front_error_lines: list[str]
    front_log_lines: int

    @property
    def passed(self) -> bool:
        return (self.tally.failures == 0 and self.front_alive and self.good_terminal_served
                and not self.tables_changed and self.audit_violations == 0
                and not self.front_error_lines)


class _Stop:
    """Set by SIGINT or SIGTERM: no more cases; what was sent is checked and summarised."""

    requested = False


def _cases(seed: int, seeds: list[dict[str, str]], tally: Tally, target: int,
           stop: _Stop) -> Iterator[Case]:
    """Cases until the tally has counted `target` frames (workers stop a batch after)."""
    rng = random.Random(seed)
    started, next_report = time.perf_counter(), time.perf_counter() + PROGRESS_EVERY_S
    while tally.frames < target and not stop.requested:
        yield make_case(rng, seeds)
        if time.perf_counter() >= next_report:
            next_report += PROGRESS_EVERY_S
            rate = tally.frames / (time.perf_counter() - started)
            print(f"  {tally.frames:>9} frames, {rate:,.0f}/s, failures {tally.failures}",
                  file=sys.stderr, flush=True)


async def table_counts(database_url: str) -> dict[str, int]:
    """Rows of every table: a posting, a request record, a sign-on or a store-and-forward
    entry all add rows somewhere, so malformed traffic must leave every count unchanged."""
    connection = await asyncpg.connect(database_url)
    try:
        tables = await connection.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')")
        return {f"{schema}.{name}": await connection.fetchval(
                    f'SELECT count(*) FROM "{schema}"."{name}"') for schema, name in tables}
    finally:
        await connection.close()


async def _stop_on_signal(stop: _Stop) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            print(f"  signal {signum}: finishing the batches in flight", file=sys.stderr)
            stop.requested = True
            return


async def _good_terminal(port: int, station: Station, pan: str) -> bool:
    async with TerminalClient("127.0.0.1", port, terminal_code=station.terminal,
                              merchant_code=station.merchant, timeout_s=CLIENT_TIMEOUT_S) as t:
        answers = [await t.sign_on(), await t.inquiry(pan), await t.purchase(pan, 1_000)]
    return all(answer.get("39") == "00" for answer in answers)


def _front_errors(log_path: Path) -> tuple[list[str], int]:
    lines = log_path.read_bytes().splitlines() if log_path.exists() else []
    errors = [line.decode(errors="replace")[:300] for line in lines
              if any(marker in line for marker in _LOG_ERROR_MARKERS)]
    return errors[:20], len(lines)


async def run(args: argparse.Namespace, database_url: str) -> Summary:
    await migrate(database_url)
    fleet = await ensure_fleet(database_url, terminals=1, cards=2)
    station = Station(terminal=fleet.stations[0].terminal_code,
                      merchant=fleet.stations[0].merchant_code, pan=fleet.pans[0])
    work_dir = Path(args.work_dir)
    ports = SystemPorts.free()
    write_config(work_dir / "system.toml", system_sections(database_url, ports))
    services = Services(work_dir / "system.toml", work_dir / "logs")
    front_log = work_dir / "logs" / "front.log"
    front_log.unlink(missing_ok=True)
    try:
        for name, port in (("host", ports.host), ("switch", ports.switch),
                           ("front", ports.front)):
            await services.start(name, port)
        async with TerminalClient("127.0.0.1", ports.front, terminal_code=station.terminal,
                                  merchant_code=station.merchant) as terminal:
            signed_on = await terminal.sign_on()
            assert signed_on.get("39") == "00", signed_on
            batch = f"{terminal.batch_number or 1:06d}"
        station = msgspec.structs.replace(station, batch=batch)
        before = await table_counts(database_url)
        tally, stop = Tally(), _Stop()
        cases = _cases(args.seed, seed_messages(station), tally, args.frames, stop)
        async with anyio.create_task_group() as group:
            group.start_soon(_stop_on_signal, stop)
            await FuzzDriver(("127.0.0.1", ports.front), tally,
                             timeout_s=CLIENT_TIMEOUT_S).run(cases, args.connections)
            group.cancel_scope.cancel()
        after = await table_counts(database_url)
        try:
            services.check_alive()
            alive = True
        except Exception:  # noqa: BLE001 - reported as a crash in the summary
            alive = False
        served = alive and await _good_terminal(ports.front, station, fleet.pans[1])
    finally:
        await services.stop()
    report = await audit_database(database_url, timeout_s=AUDIT_TIMEOUT_S)
    errors, log_lines = _front_errors(front_log)
    return Summary(
        frames_target=args.frames, tally=tally, front_alive=alive, good_terminal_served=served,
        tables_changed={table: (before.get(table, 0), after.get(table, 0))
                        for table in sorted(before.keys() | after.keys())
                        if before.get(table) != after.get(table)},
        audit_violations=report.violation_count, front_error_lines=errors,
        front_log_lines=log_lines,
    )


def render(summary: Summary) -> str:
    tally = summary.tally
    answered = sum(tally.answered.values())
    rows_changed = sum(after - before for before, after in summary.tables_changed.values())
    lines = [
        f"frames target          {summary.frames_target:,}"
        + ("" if tally.frames >= summary.frames_target else " (stopped early by a signal)"),
        f"frames sent            {tally.frames:,} ({tally.elapsed_s:,.0f} s, "
        f"{tally.frames_per_s:,.0f} frames/s, {tally.connections:,} connections)",
        f"answered               {answered:,} {dict(sorted(tally.answered.items()))}",
        f"closed by the front    {tally.closed:,} {dict(sorted(tally.closed_by_reason.items()))}",
        f"not sent (still valid) {tally.skipped_valid:,}",
        f"cases by kind          {dict(sorted(tally.cases_by_kind.items()))}",
        f"oracle mismatches      {tally.failures}",
        *[f"  {example[:400]}" for example in tally.failure_examples],
        f"front crashes          {0 if summary.front_alive else 1}",
        f"good terminal served   {summary.good_terminal_served}",
        f"rows from malformed    {rows_changed} (tables changed: "
        f"{summary.tables_changed or 'none'})",
        f"jifen audit violations {summary.audit_violations}",
        f"front log              {summary.front_log_lines:,} lines, "
        f"{len(summary.front_error_lines)} errors",
        *[f"  {line}" for line in summary.front_error_lines],
        "PASSED" if summary.passed else "FAILED",
    ]
    return "\n".join(lines) + "\n"


def _database_url(data_dir: str) -> tuple[str, object | None]:
    url = os.environ.get("JIFEN_DATABASE_URL")
    if url:
        return url, None
    from database.embedded import EmbeddedPostgres

    embedded = EmbeddedPostgres(data_dir)
    started_here = not embedded.is_running()
    return embedded.ensure_database(FUZZ_DATABASE), embedded if started_here else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1_000_000,
                        help="frames to send (default 1,000,000)")
    parser.add_argument("--connections", type=int, default=8,
                        help="connections at once (default 8)")
    parser.add_argument("--seed", type=int, default=20261123,
                        help="the cases' random seed: the same seed sends the same cases")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help=f"embedded PostgreSQL (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR,
                        help=f"generated configuration and service logs ({DEFAULT_WORK_DIR})")
    args = parser.parse_args(argv)
    configure_logging("warning", process="fuzz")
    database_url, embedded = _database_url(args.data_dir)
    try:
        summary = anyio.run(run, args, database_url, backend="asyncio",
                            backend_options={"use_uvloop": True})
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    print(render(summary), end="")
    return 0 if summary.passed else 1


if __name__ == "__main__":
    sys.exit(main())
