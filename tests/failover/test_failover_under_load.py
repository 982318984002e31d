"""The system on the fail-over cluster (issue 21, the short form; loadtest/ has the long one):
terminals buy over TCP, the primary's postmaster is killed (-9), Patroni promotes the
synchronous standby, the host reconnects through its multi-host URL without a restart, and
approvals flow again. Every approval a terminal got is in the new primary's journal, nothing is
posted twice, and the audit passes. The time without approvals is measured and printed."""

from __future__ import annotations

import time
from collections import Counter

import anyio
import asyncpg
import pytest

from back_office.data_migrations import publish_front_key
from back_office.ledger_check import audit_database
from database import migrate
from database.cluster import LocalCluster
from devices.errors import DeviceError
from devices.terminal_client import TerminalClient
from proto.keys import load_kek
from tests.e2e.system import CARDS, MERCHANT, SECOND_TERMINAL, TERMINAL, running_system

pytestmark = pytest.mark.anyio

DATABASE = "jifen_failover"
# Approvals before the kill, and after it: a few group commits each, seconds in all.
APPROVALS_BEFORE = 20
APPROVALS_AFTER = 20
# The front answers 91 past this; the standby is promoted in 2-3 s, the host back in one more.
ANSWER_TIMEOUT_S = 2.0
# A terminal's wait, past the front's: a lost answer is counted, not waited on for 30 s.
TERMINAL_TIMEOUT_S = 5.0
# Promotion (2-3 s here), the host's reconnect and reload, and a loaded box's slowness.
APPROVALS_BACK_TIMEOUT_S = 60.0
AUDIT_TIMEOUT_S = 30.0


class Load:
    """What the terminals got: approvals' RRNs (field 37) with the instant of the answer, and
    every other outcome counted."""

    def __init__(self) -> None:
        self.approved: list[tuple[float, str]] = []
        self.outcomes: Counter[str] = Counter()
        self.after_kill = anyio.Event()
        self.killed_at: float | None = None
        self.enough = anyio.Event()

    def approvals_since(self, instant: float) -> int:
        return sum(1 for answered_at, _ in self.approved if answered_at > instant)

    def record(self, outcome: str, rrn: str | None) -> None:
        self.outcomes[outcome] += 1
        if rrn is not None:
            self.approved.append((time.monotonic(), rrn))
        if self.killed_at is not None and self.approvals_since(self.killed_at) >= APPROVALS_AFTER:
            self.enough.set()


async def buy(port: int, terminal_code: str, stan_start: int, load: Load) -> None:
    """Purchases one after another until the load has enough approvals after the kill."""
    async with TerminalClient("127.0.0.1", port, terminal_code, MERCHANT,
                              stan_start=stan_start, timeout_s=TERMINAL_TIMEOUT_S) as terminal:
        assert (await terminal.sign_on())["39"] == "00"
        index = 0
        while not load.enough.is_set():
            index += 1
            try:
                answer = await terminal.purchase(CARDS[index % len(CARDS)], 1_000 + index)
            except DeviceError as exc:
                load.record(type(exc).__name__, None)
                continue
            code = answer["39"]
            load.record(code, answer["37"] if code == "00" else None)


async def fetch_values(url: str, query: str) -> list[object]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return [row[0] for row in await connection.fetch(query)]
    finally:
        await connection.close()


def longest_gap_s(approved: list[tuple[float, str]], killed_at: float) -> float:
    """The time without approvals across the kill: the longest wait between two approvals
    answered one after the other, the second after the kill (answers to batches that
    committed before it may still arrive after it)."""
    instants = sorted(answered_at for answered_at, _ in approved)
    return max(later - earlier for earlier, later in zip(instants, instants[1:], strict=False)
               if later > killed_at)


@pytest.mark.timeout(180)
async def test_approvals_flow_again_after_the_primary_is_killed(ready_cluster: LocalCluster):
    url = await anyio.to_thread.run_sync(ready_cluster.fresh_database, DATABASE)
    await migrate(url)
    await publish_front_key(url, load_kek())
    load = Load()
    async with running_system(url, answer_timeout_s=ANSWER_TIMEOUT_S) as system:
        async with anyio.create_task_group() as group:
            group.start_soon(buy, system.front_port, TERMINAL, 1, load)
            group.start_soon(buy, system.front_port, SECOND_TERMINAL, 1, load)
            with anyio.fail_after(APPROVALS_BACK_TIMEOUT_S):
                while len(load.approved) < APPROVALS_BEFORE:
                    await anyio.sleep(0.05)
            old = ready_cluster.primary()
            load.killed_at = time.monotonic()
            ready_cluster.kill_postmaster(old)
            with anyio.fail_after(APPROVALS_BACK_TIMEOUT_S):
                new = await anyio.to_thread.run_sync(ready_cluster.wait_for_new_primary, old)
                promoted_s = time.monotonic() - load.killed_at
                await load.enough.wait()
    gap_s = longest_gap_s(load.approved, load.killed_at)
    print(f"\nprimary {old.name} killed: {new.name} promoted after {promoted_s:.1f} s,"
          f" no approvals for {gap_s:.1f} s; outcomes {dict(load.outcomes)}")

    rrns = [rrn for _, rrn in load.approved]
    assert len(set(rrns)) == len(rrns)
    journal = await fetch_values(url, "SELECT rrn FROM transactions WHERE rrn IS NOT NULL")
    assert set(rrns) <= set(journal)  # every approval a terminal got is on the new primary
    assert len(set(journal)) == len(journal)  # nothing posted twice
    report = await audit_database(url, timeout_s=AUDIT_TIMEOUT_S)
    assert report.clean, [violation.describe() for violation in report.violations()]
