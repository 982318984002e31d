"""Crash test: load on the system while its processes are SIGKILLed, then the journal is checked
against what the terminals saw (issue 8, "Crash safety, proven"; docs/reliability.md).

    python -m loadtest.crash --kills 20          the long form (its figures are in the doc)
    python -m loadtest.crash --kills 3 --seed 7  a short run, reproducible kill plan

It starts an embedded PostgreSQL under --data-dir (its own: it is killed), a fresh database,
the load-test fleet, and host, switch and front as child processes. A fleet of POS terminals
(loadtest.crash_fleet) sends purchases, redemptions and loads at a steady rate. Each round:
wait until approvals flow, let the load run for a random moment, SIGKILL one target (host,
switch, front, or the postmaster), leave it dead a random moment, restart it, and wait until
approvals flow again. Targets are drawn in shuffled rounds, so that each is killed as often.
At the end the terminals finish their reversals, and loadtest.crash_check compares their
record with the journal; `jifen audit` must pass. The last lines are the counts; the exit code
is 1 when any check failed.
"""

from __future__ import annotations

import argparse
import random
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

import anyio
import msgspec

from loadtest.crash_check import AuditOutcome, JournalCheck, check_journal, run_audit
from loadtest.crash_fleet import CrashFleet, TerminalPolicy
from loadtest.crash_system import TARGETS, CrashSystem
from loadtest.errors import LoadtestError
from loadtest.provision import ensure_fleet
from runtime.logging import configure_logging

EXIT_CHECK_FAILED = 1
EXIT_NOT_RUN = 2
# While waiting for the system to serve again, services that died on their own are looked
# for this often.
EXIT_CHECK_INTERVAL_S = 1.0


class CrashOptions(msgspec.Struct, frozen=True):
    kills: int = 20
    seed: int | None = None
    terminals: int = 8
    cards: int = 200
    rate_per_s: float = 200.0            # the fleet's requests per second, all terminals
    terminal_timeout_s: float = 6.0      # a POS's wait for an answer, then it reverses
    # The front answers 91 after this; below the terminal's timeout, as in the field.
    front_answer_timeout_s: float = 3.0
    load_s: tuple[float, float] = (1.0, 4.0)     # load before a kill, after approvals resume
    down_s: tuple[float, float] = (0.0, 1.0)     # a killed process stays dead this long
    # Approvals after a restart that show the system serves again, and how long they may take.
    recovered_approvals: int = 20
    recovery_timeout_s: float = 60.0
    # After the last round: the terminals' answers and reversals, then the journal settling
    # (the front's own store-and-forward reversals, when it has them).
    drain_timeout_s: float = 120.0
    settle_timeout_s: float = 30.0
    settle_poll_s: float = 0.5
    targets: tuple[str, ...] = TARGETS
    # Answers the terminals treat as no answer and reverse themselves. None by default: a POS
    # shows 91 as a decline, and the front's store-and-forward must reverse whatever the host
    # may have posted behind it. {"91"} tests a front without store-and-forward.
    reverse_codes: frozenset[str] = frozenset()
    data_dir: str = "var/crash-pg"
    work_dir: str = "var/crash"
    stop_postgres: bool = True
    overrides: list[str] = []


class Kill(msgspec.Struct):
    target: str
    at_s: float                      # since the load started
    at_utc: str                      # hh:mm:ss, to match field 7 of the requests it hit
    down_s: float
    restart_s: float                 # from the restart until it listened (or was ready)
    recovered_s: float | None = None  # from the kill until approvals flowed again


class CrashResult(msgspec.Struct, frozen=True):
    seed: int
    duration_s: float
    kills: list[Kill]
    answers: dict[str, int]
    no_answer: int
    reversal_requests: int
    reversal_answers: dict[str, int]
    journal: JournalCheck
    audit: AuditOutcome
    unexpected_exits: list[str]
    failures: list[str]              # what the run could not do (recover, drain)
    phases_s: dict[str, float]       # setup, load (kills included), drain, check

    @property
    def ok(self) -> bool:
        return (self.journal.clean and self.audit.clean and not self.unexpected_exits
                and not self.failures)


async def run_crash(options: CrashOptions) -> CrashResult:
    assert options.kills >= 0 and set(options.targets) <= set(TARGETS) and options.targets
    seed = options.seed if options.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)
    started = time.monotonic()
    system = CrashSystem(Path(options.data_dir), Path(options.work_dir), options.overrides)
    phases_s: dict[str, float] = {}
    try:
        database_url = await system.start_database()
        fleet_data = await ensure_fleet(database_url, options.terminals, options.cards)
        await system.checkpoint()   # crash recovery replays this run's WAL only
        await system.start_services(system.sections(options.front_answer_timeout_s))
        phases_s["setup"] = time.monotonic() - started
        policy = TerminalPolicy(
            timeout_s=options.terminal_timeout_s,
            rate_per_s=options.rate_per_s / options.terminals,
            reverse_codes=options.reverse_codes)
        fleet = CrashFleet(system.front, fleet_data.stations, fleet_data.pans, policy, seed)
        kills, failures = await _load_and_kill(system, fleet, options, rng, phases_s)
        checked = time.monotonic()
        journal = await _settle(database_url, fleet, options)
        audit = await run_audit(system.config_path)
        phases_s["check"] = time.monotonic() - checked
        failures += [f"{name} exited without being killed" for name in
                     await system.restart_unexpected_exits()]
    finally:
        await system.stop(stop_postgres=options.stop_postgres)
    ledger = fleet.ledger
    return CrashResult(
        seed=seed, duration_s=time.monotonic() - started, kills=kills,
        answers=dict(ledger.answers), no_answer=ledger.no_answer,
        reversal_requests=ledger.reversal_requests,
        reversal_answers=dict(ledger.reversal_answers), journal=journal, audit=audit,
        unexpected_exits=list(system.unexpected_exits), failures=failures, phases_s=phases_s)


async def _load_and_kill(
    system: CrashSystem, fleet: CrashFleet, options: CrashOptions, rng: random.Random,
    phases_s: dict[str, float],
) -> tuple[list[Kill], list[str]]:
    kills: list[Kill] = []
    failures: list[str] = []
    plan = _kill_plan(options.kills, options.targets, rng)
    fleet_done = anyio.Event()

    async def run_fleet() -> None:
        await fleet.run()
        fleet_done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(run_fleet)
        load_started = time.monotonic()
        for target in [*plan, None]:
            waited_s = await _wait_serving(system, fleet, options, failures)
            if kills:
                kills[-1].recovered_s = None if waited_s is None \
                    else time.monotonic() - load_started - kills[-1].at_s
            if waited_s is None:
                last = kills[-1].target if kills else "the start"
                failures.append(f"no approvals for {options.recovery_timeout_s:g} s after "
                                f"killing {last}")
                break
            if target is None:
                break
            await anyio.sleep(rng.uniform(*options.load_s))   # the random moment
            for name in await system.restart_unexpected_exits():
                failures.append(f"{name} exited without being killed (restarted)")
            at_s = time.monotonic() - load_started
            at_utc = time.strftime("%H:%M:%S", time.gmtime())
            await system.kill(target)
            down_s = rng.uniform(*options.down_s)
            await anyio.sleep(down_s)
            restarted = time.monotonic()
            await system.restart(target)
            kills.append(Kill(target, at_s, at_utc, down_s, time.monotonic() - restarted))
        fleet.stop()
        drained = time.monotonic()
        phases_s["load"] = drained - load_started
        with anyio.move_on_after(options.drain_timeout_s) as drain:
            while not fleet_done.is_set():
                with anyio.move_on_after(EXIT_CHECK_INTERVAL_S):
                    await fleet_done.wait()
                for name in await system.restart_unexpected_exits():
                    failures.append(f"{name} exited without being killed (restarted)")
        if drain.cancelled_caught:
            failures.append(f"the terminals still owed {fleet.reversals_owed} reversals "
                            f"after {options.drain_timeout_s:g} s")
            group.cancel_scope.cancel()
        phases_s["drain"] = time.monotonic() - drained
    return kills, failures


def _kill_plan(kills: int, targets: tuple[str, ...], rng: random.Random) -> list[str]:
    """`kills` targets in shuffled rounds of all targets: each is killed as often (±1)."""
    plan: list[str] = []
    while len(plan) < kills:
        round_ = list(targets)
        rng.shuffle(round_)
        plan += round_
    return plan[:kills]


async def _wait_serving(system: CrashSystem, fleet: CrashFleet, options: CrashOptions,
                        failures: list[str]) -> float | None:
    """Seconds until `recovered_approvals` more approvals arrived; None after the timeout.
    Meanwhile a service that died without being killed is restarted, as a supervisor would,
    and recorded as a failure: the run goes on to show what else happens."""
    started = time.monotonic()
    target = fleet.approvals + options.recovered_approvals
    with anyio.move_on_after(options.recovery_timeout_s):
        while True:
            with anyio.move_on_after(EXIT_CHECK_INTERVAL_S):
                await fleet.wait_for_approvals(target)
                return time.monotonic() - started
            for name in await system.restart_unexpected_exits():
                failures.append(f"{name} exited without being killed (restarted)")
    return None


async def _settle(database_url: str, fleet: CrashFleet, options: CrashOptions) -> JournalCheck:
    """The journal check, repeated until clean or settle_timeout_s: reversals queued by the
    front's store-and-forward may still be on their way when the terminals are done."""
    requests = fleet.ledger.requests
    journal = await check_journal(database_url, requests)
    with anyio.move_on_after(options.settle_timeout_s):
        while not journal.clean and not (journal.losses or journal.double_posts):
            await anyio.sleep(options.settle_poll_s)
            journal = await check_journal(database_url, requests)
    return journal


def render(result: CrashResult, command: str) -> str:
    """The report; its last lines are the counts the issue asks for."""
    journal = result.journal
    by_target = Counter(kill.target for kill in result.kills)
    recoveries = [kill.recovered_s for kill in result.kills if kill.recovered_s is not None]
    timeline = ", ".join(
        f"{kill.target} at {kill.at_utc} UTC (dead {kill.down_s:.1f} s, restarted in "
        f"{kill.restart_s:.1f} s, serving again after "
        + (f"{kill.recovered_s:.1f} s)" if kill.recovered_s is not None else "never)")
        for kill in result.kills)
    answers = ", ".join(f"{code} {count}" for code, count in sorted(result.answers.items()))
    phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in result.phases_s.items())
    lines = [f"crash test: {command}",
             f"seed {result.seed}, {result.duration_s:.0f} s ({phases})"]
    if timeline:
        lines.append(f"kills in order: {timeline}")
    if recoveries:
        lines.append(f"recovery after a kill (approvals flowing again): median "
                     f"{sorted(recoveries)[len(recoveries) // 2]:.1f} s, "
                     f"max {max(recoveries):.1f} s")
    lines.append(f"answers: {answers or 'none'}; no answer in time: {result.no_answer}")
    reversal_answers = ", ".join(f"{code} {count}" for code, count
                                 in sorted(result.reversal_answers.items()))
    lines.append(f"reversal messages sent by the terminals: {result.reversal_requests} "
                 f"(answers: {reversal_answers or 'none'}); requests reversed in the journal: "
                 f"{journal.reversed_in_journal}")
    lines.append(f"audit: {result.audit.output.splitlines()[-1] if result.audit.output else ''}"
                 f" (exit {result.audit.exit_code})")
    if not result.audit.clean:
        lines.append(result.audit.output)
    lines += [f"FAILED: {failure}" for failure in result.failures]
    lines += [f"PROBLEM {problem}" for problem in journal.problems]
    lines.append(f"posted without approval: {journal.posted_without_approval}")
    lines.append(f"kills: {len(result.kills)} ("
                 + ", ".join(f"{target} {by_target[target]}" for target in TARGETS) + ")")
    lines.append(f"requests: {journal.requests}")
    lines.append(f"approvals checked: {journal.approvals_checked}")
    lines.append(f"reversals: {journal.reversed_by_terminals}")
    lines.append(f"losses: {journal.losses}")
    lines.append(f"double posts: {journal.double_posts}")
    return "\n".join(lines) + "\n"


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LOW,HIGH in seconds") from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= LOW <= HIGH")
    return bounds


def parse_options(argv: list[str]) -> CrashOptions:
    defaults = CrashOptions()
    parser = argparse.ArgumentParser(prog="python -m loadtest.crash", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=defaults.kills)
    parser.add_argument("--seed", type=int, help="the kill plan and the load (default random)")
    parser.add_argument("--terminals", type=int, default=defaults.terminals)
    parser.add_argument("--cards", type=int, default=defaults.cards)
    parser.add_argument("--rate", type=float, default=defaults.rate_per_s,
                        help="requests per second from the whole fleet")
    parser.add_argument("--terminal-timeout", type=float, default=defaults.terminal_timeout_s)
    parser.add_argument("--front-answer-timeout", type=float,
                        default=defaults.front_answer_timeout_s)
    parser.add_argument("--load", type=_range, default=defaults.load_s, metavar="LOW,HIGH",
                        help="seconds of load before each kill (uniform)")
    parser.add_argument("--down", type=_range, default=defaults.down_s, metavar="LOW,HIGH",
                        help="seconds a killed process stays dead (uniform)")
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("--terminal-reverses", default="none", metavar="CODES",
                        help="answer codes the terminals reverse like a missing answer, "
                             "comma-separated, e.g. 91 for a front without store-and-forward "
                             "(default none: only missing answers)")
    parser.add_argument("--settle-timeout", type=float, default=defaults.settle_timeout_s,
                        help="seconds the journal may take to agree after the terminals are "
                             "done (the front's store-and-forward reversals)")
    parser.add_argument("--data-dir", default=defaults.data_dir)
    parser.add_argument("--work-dir", default=defaults.work_dir)
    parser.add_argument("--keep-postgres", action="store_true",
                        help="leave the embedded PostgreSQL running at the end")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="a configuration value for the services (repeatable)")
    args = parser.parse_args(argv)
    targets = tuple(name.strip() for name in args.targets.split(",") if name.strip())
    unknown = set(targets) - set(TARGETS)
    if unknown or not targets:
        parser.error(f"--targets: {', '.join(sorted(unknown)) or 'none'} not of "
                     f"{', '.join(TARGETS)}")
    reverse_codes = frozenset() if args.terminal_reverses == "none" else frozenset(
        code.strip() for code in args.terminal_reverses.split(",") if code.strip())
    return CrashOptions(
        kills=args.kills, seed=args.seed, terminals=args.terminals, cards=args.cards,
        rate_per_s=args.rate, terminal_timeout_s=args.terminal_timeout,
        front_answer_timeout_s=args.front_answer_timeout, load_s=args.load, down_s=args.down,
        settle_timeout_s=args.settle_timeout,
        targets=targets, reverse_codes=reverse_codes, data_dir=args.data_dir,
        work_dir=args.work_dir, stop_postgres=not args.keep_postgres, overrides=args.set)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    options = parse_options(argv)
    configure_logging("warning", process="crash")
    try:
        result = anyio.run(run_crash, options, backend="asyncio")
    except LoadtestError as exc:
        print(f"crash test could not run: {exc}", file=sys.stderr)
        return EXIT_NOT_RUN
    print(render(result, shlex.join(["python", "-m", "loadtest.crash", *argv])), end="")
    return 0 if result.ok else EXIT_CHECK_FAILED


if __name__ == "__main__":
    sys.exit(main())
