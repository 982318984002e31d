"""Rolling restart under load (issue 20, "Graceful drain and upgrade"): each service stopped with
SIGTERM (it drains) and started again while POS terminals send, then the journal checked against
what they saw (docs/reliability.md, "Graceful drain and restarts").

    python -m loadtest.restart                            a round of front, switch, host
    python -m loadtest.restart --cards 1000000 --rounds 3 the host's state at full size

It starts an embedded PostgreSQL under --data-dir (or uses --database-url), a fresh database,
the load-test alliance, host, switch and front as child processes (loadtest.crash_system), and
a fleet of terminals at a steady rate (loadtest.crash_fleet). Each restart: SIGTERM the
service, wait for it to exit (its exit code and time are recorded), start it again, and wait
until approvals flow again. At the end the terminals finish, loadtest.crash_check compares
their record with the journal, and `jifen audit` runs. The report's last lines are the counts;
the exit code is 1 when a check failed: a request without an answer, a 91 or 96 during a front
or switch restart, a 96 at all, a process that did not exit 0 within its drain timeout, the
journal, the audit.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

import anyio
import msgspec

from loadtest.crash_check import (
    AuditOutcome,
    JournalCheck,
    outcome_lines,
    run_audit,
    settle_journal,
)
from loadtest.crash_fleet import CrashFleet, TerminalPolicy
from loadtest.crash_record import SentRequest
from loadtest.crash_system import SERVICES, CrashSystem
from loadtest.errors import LoadtestError
from loadtest.provision import ensure_fleet
from proto.codes import ResponseCode
from runtime.logging import configure_logging

EXIT_CHECK_FAILED = 1
EXIT_NOT_RUN = 2
# Restarts that must answer no error at all; the host's answers 91 while it is away.
ERRORLESS_SERVICES = frozenset({"front", "switch"})
ERROR_CODES = frozenset({ResponseCode.HOST_UNAVAILABLE.value, ResponseCode.SYSTEM_ERROR.value})
SETTLE_POLL_S = 0.5


class RestartOptions(msgspec.Struct, frozen=True):
    rounds: int = 1
    order: tuple[str, ...] = SERVICES[::-1]   # front, switch, host: clients before servers
    terminals: int = 4
    cards: int = 1_000
    # One request per 100 ms per terminal, long after the last one's answer, as at a POS.
    rate_per_s: float = 40.0
    terminal_timeout_s: float = 10.0     # a POS's patience, above the front's answer timeout
    front_answer_timeout_s: float = 6.0  # above a switch's restart: the front holds meanwhile
    # Each service's drain_timeout_s for the run, and what a process may take past it to end.
    drain_timeout_s: dict[str, float] = msgspec.field(
        default_factory=lambda: {"front": 10.0, "switch": 8.0, "host": 8.0})
    exit_slack_s: float = 2.0
    approvals_between: int = 30          # approvals that show the system serves again
    serving_timeout_s: float = 60.0
    fleet_done_timeout_s: float = 30.0
    settle_timeout_s: float = 20.0       # the front's stored reversals reaching the host
    seed: int = 20
    database_url: str | None = None      # a migrated database; else a server of our own
    data_dir: str = "var/restart-pg"
    work_dir: str = "var/restart"
    stop_postgres: bool = True
    overrides: list[str] = []


class Restart(msgspec.Struct):
    service: str
    exit_code: int | None                # None: did not exit in time, killed
    exit_s: float                        # SIGTERM .. exited
    start_s: float                       # started again .. listening
    began: float                         # time.monotonic(): SIGTERM
    ended: float                         # approvals flowing again
    answers: dict[str, int] = {}         # field 39 -> count, of answers within [began, ended]
    unavailable_s: float | None = None   # first 91 .. last 91 within it


class RestartResult(msgspec.Struct, frozen=True):
    restarts: list[Restart]
    answers: dict[str, int]
    requests: int
    no_answer: int
    journal: JournalCheck
    audit: AuditOutcome
    failures: list[str]

    @property
    def ok(self) -> bool:
        return not self.failures


async def run_restart(options: RestartOptions) -> RestartResult:
    assert options.rounds >= 1 and set(options.order) <= set(SERVICES)
    overrides = [f"{name}.drain_timeout_s={seconds}"
                 for name, seconds in options.drain_timeout_s.items()] + options.overrides
    system = CrashSystem(Path(options.data_dir), Path(options.work_dir), overrides)
    try:
        if options.database_url is None:
            database_url = await system.start_database()
        else:
            database_url = options.database_url
            system.use_database(database_url)
        fleet_data = await ensure_fleet(database_url, options.terminals, options.cards)
        await system.start_services(system.sections(options.front_answer_timeout_s))
        fleet = CrashFleet(system.front, fleet_data.stations, fleet_data.pans, TerminalPolicy(
            timeout_s=options.terminal_timeout_s,
            rate_per_s=options.rate_per_s / options.terminals), seed=options.seed)
        restarts = await _restart_under_load(system, fleet, options)
        requests = fleet.ledger.requests
        journal = await settle_journal(database_url, requests, options.settle_timeout_s,
                                       SETTLE_POLL_S)
        audit = await run_audit(system.config_path)
    finally:
        await system.stop(stop_postgres=options.stop_postgres and options.database_url is None)
    for restart in restarts:
        restart.answers, restart.unavailable_s = _answered_within(requests, restart)
    ledger = fleet.ledger
    return RestartResult(
        restarts=restarts, answers=dict(ledger.answers), requests=len(requests),
        no_answer=sum(request.answer_code is None for request in requests),
        journal=journal, audit=audit, failures=_failures(restarts, ledger.answers, requests,
                                                         journal, audit, options))


async def _restart_under_load(system: CrashSystem, fleet: CrashFleet,
                              options: RestartOptions) -> list[Restart]:
    restarts: list[Restart] = []
    fleet_done = anyio.Event()

    async def run_fleet() -> None:
        await fleet.run()
        fleet_done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(run_fleet)
        with anyio.fail_after(options.serving_timeout_s):
            await fleet.wait_for_approvals(options.approvals_between)
        for name in list(options.order) * options.rounds:   # each alone, under load
            began = time.monotonic()
            code, exit_s = await system.terminate(
                name, options.drain_timeout_s[name] + options.exit_slack_s)
            started = time.monotonic()
            await system.restart(name)
            start_s = time.monotonic() - started
            with anyio.fail_after(options.serving_timeout_s):
                await fleet.wait_for_approvals(fleet.approvals + options.approvals_between)
            restarts.append(Restart(name, code, exit_s, start_s, began, time.monotonic()))
        fleet.stop()
        with anyio.fail_after(options.fleet_done_timeout_s):
            await fleet_done.wait()
    return restarts


def _answered_within(requests: list[SentRequest],
                     restart: Restart) -> tuple[dict[str, int], float | None]:
    """The answers that came during a restart, and the span of its 91s."""
    answered = [(request.answered_at, request.answer_code) for request in requests
                if request.answered_at is not None and request.answer_code is not None
                and restart.began <= request.answered_at <= restart.ended]
    unavailable = sorted(at for at, code in answered if code == ResponseCode.HOST_UNAVAILABLE)
    span = unavailable[-1] - unavailable[0] if unavailable else None
    return dict(Counter(code for _, code in answered)), span


def _failures(restarts: list[Restart], answers: Counter[str], requests: list[SentRequest],
              journal: JournalCheck, audit: AuditOutcome, options: RestartOptions) -> list[str]:
    failures = []
    for restart in restarts:
        bound_s = options.drain_timeout_s[restart.service] + options.exit_slack_s
        if restart.exit_code != 0 or restart.exit_s > bound_s:
            failures.append(f"{restart.service} exited {restart.exit_code} after "
                            f"{restart.exit_s:.2f} s (bound {bound_s:g} s)")
        errors = ERROR_CODES & set(restart.answers)
        if restart.service in ERRORLESS_SERVICES and errors:
            failures.append(f"{restart.service} restart answered {restart.answers}")
    unanswered = sum(request.answer_code is None for request in requests)
    if unanswered:
        failures.append(f"{unanswered} requests sent got no answer")
    if answers[ResponseCode.SYSTEM_ERROR]:
        failures.append(f"{answers[ResponseCode.SYSTEM_ERROR]} answers 96")
    if not journal.clean or not journal.approvals_checked:
        failures.append("the journal does not match the answers")
    if not audit.clean:
        failures.append("jifen audit failed")
    return failures


def render(result: RestartResult, command: str) -> str:
    lines = [f"rolling restart: {command}"]
    for restart in result.restarts:
        window = "" if restart.unavailable_s is None else \
            f", 91s over {restart.unavailable_s:.2f} s"
        answers = ", ".join(f"{code} {count}" for code, count in sorted(restart.answers.items()))
        lines.append(f"{restart.service}: exit {restart.exit_code} in {restart.exit_s:.2f} s, "
                     f"listening {restart.start_s:.2f} s after its start, serving again after "
                     f"{restart.ended - restart.began:.2f} s; answers meanwhile: {answers}"
                     f"{window}")
    lines += outcome_lines(result.answers, result.audit, result.journal, result.failures,
                           result.requests, result.no_answer)
    return "\n".join(lines) + "\n"


def parse_options(argv: list[str]) -> RestartOptions:
    defaults = RestartOptions()
    parser = argparse.ArgumentParser(prog="python -m loadtest.restart", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--order", default=",".join(defaults.order),
                        help="services restarted in each round, comma-separated")
    parser.add_argument("--terminals", type=int, default=defaults.terminals)
    parser.add_argument("--cards", type=int, default=defaults.cards)
    parser.add_argument("--rate", type=float, default=defaults.rate_per_s,
                        help="requests per second from the whole fleet")
    parser.add_argument("--database-url", help="a migrated database (default: a server of "
                        "our own under --data-dir)")
    parser.add_argument("--data-dir", default=defaults.data_dir)
    parser.add_argument("--work-dir", default=defaults.work_dir)
    parser.add_argument("--keep-postgres", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="a configuration value for the services (repeatable)")
    args = parser.parse_args(argv)
    order = tuple(name.strip() for name in args.order.split(",") if name.strip())
    if not order or set(order) - set(SERVICES):
        parser.error(f"--order: names of {', '.join(SERVICES)}")
    return RestartOptions(
        rounds=args.rounds, order=order, terminals=args.terminals, cards=args.cards,
        rate_per_s=args.rate, database_url=args.database_url, data_dir=args.data_dir,
        work_dir=args.work_dir, stop_postgres=not args.keep_postgres, overrides=args.set)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    options = parse_options(argv)
    configure_logging("warning", process="restart")
    try:
        result = anyio.run(run_restart, options, backend="asyncio")
    except (LoadtestError, TimeoutError) as exc:
        print(f"rolling restart could not run: {exc!r}", file=sys.stderr)
        return EXIT_NOT_RUN
    print(render(result, shlex.join(["python", "-m", "loadtest.restart", *argv])), end="")
    return 0 if result.ok else EXIT_CHECK_FAILED


if __name__ == "__main__":
    sys.exit(main())
