"""Fail-over under load (issue 21, the long form of tests/failover): the system on a local
Patroni cluster with a synchronous standby (database/cluster.py), POS terminals sending at a
steady rate, and in each round a kill -9 of the primary's postmaster; Patroni promotes the
standby, the host reconnects through its multi-host URL, approvals flow again, and the old
primary comes back as the new one's standby before the next round (docs/reliability.md,
"Fail-over").

    python -m loadtest.failover                         one fail-over
    python -m loadtest.failover --rounds 3 --rate 100   three, back and forth

It starts etcd and two Patroni nodes under --work-dir, a fresh database, the load-test alliance,
host, switch and front as child processes (loadtest.crash_system) and a fleet of terminals
(loadtest.crash_fleet). At the end the terminals finish, loadtest.crash_check compares their
record with the new primary's journal (every approval there, nothing posted twice, nothing
posted without an approval that was not reversed), and `jifen audit` runs. Each round reports
the promotion's time and the time without approvals; the exit code is 1 when a check failed.
Needs etcd (Debian's etcd-server) and Patroni (the test extra).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from pathlib import Path

import anyio
import anyio.to_thread
import msgspec

from database import migrate
from database.cluster import ETCD_PACKAGE, LocalCluster
from database.errors import DatabaseError
from loadtest.crash_check import (
    AuditOutcome,
    JournalCheck,
    outcome_lines,
    run_audit,
    settle_journal,
)
from loadtest.crash_fleet import CrashFleet, TerminalPolicy
from loadtest.crash_record import SentRequest
from loadtest.crash_system import CrashSystem
from loadtest.errors import LoadtestError
from loadtest.provision import ensure_fleet
from runtime.logging import configure_logging

EXIT_CHECK_FAILED = 1
EXIT_NOT_RUN = 2
DATABASE_NAME = "jifen_failover"
SETTLE_POLL_S = 0.5


class FailoverOptions(msgspec.Struct, frozen=True):
    rounds: int = 1
    terminals: int = 4
    cards: int = 1_000
    # One request per 100 ms per terminal, as at a POS.
    rate_per_s: float = 40.0
    terminal_timeout_s: float = 10.0     # a POS's patience, above the front's answer timeout
    front_answer_timeout_s: float = 3.0  # past it the front answers 91 and reverses
    approvals_between: int = 30          # approvals that show the system serves again
    serving_timeout_s: float = 60.0
    fleet_done_timeout_s: float = 30.0
    settle_timeout_s: float = 20.0       # the front's stored reversals reaching the host
    seed: int = 21
    work_dir: str = "var/failover"
    overrides: list[str] = []


class Failover(msgspec.Struct, frozen=True):
    killed: str                          # the node whose postmaster was killed
    promoted: str
    promoted_s: float                    # kill .. the new primary takes writes
    without_approvals_s: float           # the longest wait between two approvals across it
    serving_s: float                     # kill .. approvals_between approvals more


class FailoverResult(msgspec.Struct, frozen=True):
    failovers: list[Failover]
    answers: dict[str, int]
    requests: int
    no_answer: int
    journal: JournalCheck
    audit: AuditOutcome
    failures: list[str]

    @property
    def ok(self) -> bool:
        return not self.failures


async def run_failover(options: FailoverOptions) -> FailoverResult:
    assert options.rounds >= 1
    if shutil.which("etcd") is None:
        raise LoadtestError(f"no etcd: apt-get install {ETCD_PACKAGE}")
    work_dir = Path(options.work_dir)
    shutil.rmtree(work_dir / "cluster", ignore_errors=True)
    cluster = LocalCluster(work_dir / "cluster")
    system = CrashSystem(work_dir / "unused-pg", work_dir, options.overrides)
    try:
        await anyio.to_thread.run_sync(cluster.start)
        database_url = await anyio.to_thread.run_sync(cluster.fresh_database, DATABASE_NAME)
        await migrate(database_url)
        system.use_database(database_url)
        fleet_data = await ensure_fleet(database_url, options.terminals, options.cards)
        await system.start_services(system.sections(options.front_answer_timeout_s))
        fleet = CrashFleet(system.front, fleet_data.stations, fleet_data.pans, TerminalPolicy(
            timeout_s=options.terminal_timeout_s,
            rate_per_s=options.rate_per_s / options.terminals), seed=options.seed)
        failovers = await _fail_over_under_load(cluster, fleet, options)
        requests = fleet.ledger.requests
        journal = await settle_journal(database_url, requests, options.settle_timeout_s,
                                       SETTLE_POLL_S)
        audit = await run_audit(system.config_path)
    except DatabaseError as exc:
        raise LoadtestError(f"the cluster failed: {exc}") from exc
    finally:
        await system.stop(stop_postgres=False)
        await anyio.to_thread.run_sync(cluster.stop)
    ledger = fleet.ledger
    return FailoverResult(
        failovers=failovers, answers=dict(ledger.answers), requests=len(requests),
        no_answer=sum(request.answer_code is None for request in requests),
        journal=journal, audit=audit,
        failures=_failures(requests, journal, audit))


async def _fail_over_under_load(cluster: LocalCluster, fleet: CrashFleet,
                                options: FailoverOptions) -> list[Failover]:
    failovers: list[Failover] = []
    fleet_done = anyio.Event()

    async def run_fleet() -> None:
        await fleet.run()
        fleet_done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(run_fleet)
        with anyio.fail_after(options.serving_timeout_s):
            await fleet.wait_for_approvals(options.approvals_between)
        for _ in range(options.rounds):
            await anyio.to_thread.run_sync(cluster.wait_until_ready)
            old = cluster.primary()
            killed_at = time.monotonic()
            cluster.kill_postmaster(old)
            new = await anyio.to_thread.run_sync(cluster.wait_for_new_primary, old)
            promoted_s = time.monotonic() - killed_at
            with anyio.fail_after(options.serving_timeout_s):
                await fleet.wait_for_approvals(fleet.approvals + options.approvals_between)
            failovers.append(Failover(
                old.name, new.name, promoted_s,
                _without_approvals_s(fleet.ledger.requests, killed_at),
                time.monotonic() - killed_at))
        fleet.stop()
        with anyio.fail_after(options.fleet_done_timeout_s):
            await fleet_done.wait()
    return failovers


def _without_approvals_s(requests: list[SentRequest], killed_at: float) -> float:
    """The longest wait between two approvals answered one after the other, the second after
    the kill (answers to batches that committed before it may still arrive after it)."""
    instants = sorted(request.answered_at for request in requests
                      if request.approved and request.answered_at is not None)
    gaps = [later - earlier for earlier, later in zip(instants, instants[1:], strict=False)
            if later > killed_at]
    return max(gaps, default=0.0)


def _failures(requests: list[SentRequest], journal: JournalCheck,
              audit: AuditOutcome) -> list[str]:
    failures = []
    unanswered = sum(request.answer_code is None for request in requests)
    if unanswered:
        failures.append(f"{unanswered} requests sent got no answer")
    if not journal.clean or not journal.approvals_checked:
        failures.append("the journal does not match the answers")
    if not audit.clean:
        failures.append("jifen audit failed")
    return failures


def render(result: FailoverResult, command: str) -> str:
    lines = [f"fail-over: {command}"]
    for failover in result.failovers:
        lines.append(f"{failover.killed} killed: {failover.promoted} promoted after "
                     f"{failover.promoted_s:.2f} s, no approvals for "
                     f"{failover.without_approvals_s:.2f} s, serving again after "
                     f"{failover.serving_s:.2f} s")
    lines += outcome_lines(result.answers, result.audit, result.journal, result.failures,
                           result.requests, result.no_answer)
    return "\n".join(lines) + "\n"


def parse_options(argv: list[str]) -> FailoverOptions:
    defaults = FailoverOptions()
    parser = argparse.ArgumentParser(prog="python -m loadtest.failover", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--terminals", type=int, default=defaults.terminals)
    parser.add_argument("--cards", type=int, default=defaults.cards)
    parser.add_argument("--rate", type=float, default=defaults.rate_per_s,
                        help="requests per second from the whole fleet")
    parser.add_argument("--work-dir", default=defaults.work_dir)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="a configuration value for the services (repeatable)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    return FailoverOptions(rounds=args.rounds, terminals=args.terminals, cards=args.cards,
                           rate_per_s=args.rate, work_dir=args.work_dir, overrides=args.set)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    options = parse_options(argv)
    configure_logging("warning", process="failover")
    try:
        result = anyio.run(run_failover, options, backend="asyncio")
    except (LoadtestError, TimeoutError) as exc:
        print(f"fail-over could not run: {exc!r}", file=sys.stderr)
        return EXIT_NOT_RUN
    print(render(result, shlex.join(["python", "-m", "loadtest.failover", *argv])), end="")
    return 0 if result.ok else EXIT_CHECK_FAILED


if __name__ == "__main__":
    sys.exit(main())
