"""A rolling restart under load (issue 20, "Graceful drain and upgrade"): front, switch and
host as child processes, a fleet of POS terminals on real TCP, and each service in turn stopped
with SIGTERM (it drains) and started again, as `systemctl restart` does.

Then, from the terminals' record and the journal:
- every request sent got its answer (none lost to a restart);
- restarting the front or the switch answered nothing 91 or 96: the front closes a terminal's
  connection only after its answers, and holds new requests while its switch restarts;
- restarting the host answered 91 only in a bounded window (measured: docs/reliability.md),
  and each of those is absent from the journal or reversed (the front's store-and-forward);
- every approval is in the journal once, nothing is posted without one, `jifen audit` passes;
- each process exited 0 within its drain timeout.

It runs on the suite's PostgreSQL server (no process of it is killed), in about 20 s.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import anyio
import pytest

from loadtest.crash_check import check_journal, run_audit
from loadtest.crash_fleet import CrashFleet, TerminalPolicy
from loadtest.crash_record import SentRequest
from loadtest.crash_system import CrashSystem
from loadtest.provision import ensure_fleet
from proto.codes import ResponseCode

TERMINALS = 4
CARDS = 40
# The fleet's: one request per 100 ms per terminal, each long after the last one's answer (a few
# ms), as at a POS; a draining front closes a connection right after an answer. A terminal that
# sends its next request as that answer arrives can have it cut unread (it then reverses it).
RATE_PER_S = 40.0
TERMINAL_TIMEOUT_S = 10.0         # a POS's patience: above the front's answer timeout
FRONT_ANSWER_TIMEOUT_S = 6.0      # above a switch's restart (the front holds requests meanwhile)
# Each service's drain bound, and what the test allows past it for the process to end.
DRAIN_TIMEOUT_S = {"front": 10.0, "switch": 8.0, "host": 8.0}
EXIT_SLACK_S = 2.0
APPROVALS_BETWEEN_RESTARTS = 30   # approvals that show the system serves again
SERVING_TIMEOUT_S = 30.0
FLEET_DONE_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 20.0           # the front's stored reversals reaching the host
# The host's restart: answered 91 for its drain, its start (the state load) and the switch's
# reconnection; far below this on any machine (the figure is in docs/reliability.md).
HOST_RESTART_91_WINDOW_S_MAX = 10.0
ERROR_CODES = {ResponseCode.HOST_UNAVAILABLE.value, ResponseCode.SYSTEM_ERROR.value}
# Every other setting is the default: the 91 window measured is what an installation sees.
OVERRIDES = [f"{name}.drain_timeout_s={seconds}" for name, seconds in DRAIN_TIMEOUT_S.items()]


def _answered_between(requests: list[SentRequest], start: float, end: float) -> Counter[str]:
    return Counter(request.answer_code for request in requests
                   if request.answered_at is not None and start <= request.answered_at <= end
                   and request.answer_code is not None)


@pytest.mark.anyio
@pytest.mark.timeout(150)
async def test_a_rolling_restart_under_load_loses_nothing(database_url: str, tmp_path: Path):
    system = CrashSystem(tmp_path / "unused-pg", tmp_path / "work", OVERRIDES)
    system.use_database(database_url)
    fleet_data = await ensure_fleet(database_url, TERMINALS, CARDS)
    fleet = CrashFleet(system.front, fleet_data.stations, fleet_data.pans, TerminalPolicy(
        timeout_s=TERMINAL_TIMEOUT_S, rate_per_s=RATE_PER_S / TERMINALS), seed=20)
    exits: dict[str, tuple[int | None, float]] = {}
    phases: dict[str, tuple[float, float]] = {}   # a restart: SIGTERM .. serving again
    starts_s: dict[str, float] = {}               # a restart: started .. listening
    try:
        await system.start_services(system.sections(FRONT_ANSWER_TIMEOUT_S))
        fleet_done = anyio.Event()

        async def run_fleet() -> None:
            await fleet.run()
            fleet_done.set()

        async with anyio.create_task_group() as group:
            group.start_soon(run_fleet)
            with anyio.fail_after(SERVING_TIMEOUT_S):
                await fleet.wait_for_approvals(APPROVALS_BETWEEN_RESTARTS)
            for name in ("front", "switch", "host"):   # each alone, under load
                started = time.monotonic()
                exits[name] = await system.terminate(
                    name, DRAIN_TIMEOUT_S[name] + EXIT_SLACK_S)
                restarted = time.monotonic()
                await system.restart(name)
                starts_s[name] = time.monotonic() - restarted
                with anyio.fail_after(SERVING_TIMEOUT_S):
                    await fleet.wait_for_approvals(
                        fleet.approvals + APPROVALS_BETWEEN_RESTARTS)
                phases[name] = (started, time.monotonic())
            fleet.stop()
            with anyio.fail_after(FLEET_DONE_TIMEOUT_S):
                await fleet_done.wait()
        requests = fleet.ledger.requests
        journal = await check_journal(database_url, requests)
        with anyio.move_on_after(SETTLE_TIMEOUT_S):
            while not journal.clean:
                await anyio.sleep(0.5)
                journal = await check_journal(database_url, requests)
        audit = await run_audit(system.config_path)
    finally:
        await system.stop(stop_postgres=False)

    logs = system.log_dir
    report = (f"exits {exits}; starts {starts_s}; answers {dict(fleet.ledger.answers)}; "
              f"no answer {fleet.ledger.no_answer}; journal {journal}; logs in {logs}")
    for name, (code, seconds) in exits.items():
        assert code == 0, f"{name} exited {code} after {seconds:.1f} s: {report}"
        assert seconds <= DRAIN_TIMEOUT_S[name] + EXIT_SLACK_S, report
    # Every request that went on the wire was answered.
    assert fleet.ledger.no_answer == 0, report
    assert all(request.answer_code is not None for request in requests), report
    # Restarting the front or the switch answered no request 91 or 96.
    for name in ("front", "switch"):
        answered = _answered_between(requests, *phases[name])
        assert not ERROR_CODES & set(answered), f"{name} restart: {answered}; {report}"
    # Restarting the host: 91 in one bounded window, nothing else amiss.
    unavailable = sorted(request.answered_at for request in requests
                         if request.answer_code == ResponseCode.HOST_UNAVAILABLE
                         and request.answered_at is not None)
    assert ResponseCode.SYSTEM_ERROR not in fleet.ledger.answers, report
    if unavailable:
        window_s = unavailable[-1] - unavailable[0]
        assert phases["host"][0] <= unavailable[0] and unavailable[-1] <= phases["host"][1]
        assert window_s <= HOST_RESTART_91_WINDOW_S_MAX, report
        print(f"host restart: {len(unavailable)} requests answered 91 over {window_s:.2f} s "
              f"(the host exited in {exits['host'][1]:.2f} s, the new one listened after "
              f"{starts_s['host']:.2f} s)")
    # The journal agrees with every answer; the 91s are absent or reversed.
    assert journal.approvals_checked > 0, report
    assert journal.clean, report
    assert audit.clean, audit.output
