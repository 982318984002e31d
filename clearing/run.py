"""`jifen clearing run | adjust | verify`: compute a sealed date's clearing and store it once,
store corrections as adjustment runs of deltas, or check the stored runs against a fresh
computation. The computation reads the journal only (REPEATABLE READ: one snapshot per
partition), on central and on every other partition (clearing/partition_reads.py), or refuses.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import asyncpg
import msgspec

from clearing.alliance import ClearingAlliance, find_alliance, merchant_codes
from clearing.compute import Position, clear_day, deltas, settle, totals
from clearing.errors import AlreadyClearedError, NotClearedError, NotSealedError
from clearing.journal import Progress
from clearing.partition_reads import read_day_everywhere
from clearing.partitions import (
    ClearingPartitions,
    PartitionSetup,
    find_partitions,
    partition_connections,
)
from clearing.results import RunResult, VerifyResult, describe_difference, run_result
from clearing.rules import rules_in_force
from clearing.sealing import sealed_at
from clearing.store import NewRun, positions_of, runs_of, write_run


class Computed(msgspec.Struct, frozen=True):
    positions: list[Position]
    rules: dict[str, object]
    journal_entries: int
    postings: int
    elapsed_ms: int
    partitions: list[str]            # every partition read, central's first


class _Journals(msgspec.Struct, frozen=True):
    """Where the date's journal is read: the partitions, and a connection to each but
    central's (whose journal is read on the caller's connection)."""

    partitions: ClearingPartitions
    others: dict[str, asyncpg.Connection]


async def compute(
    conn: asyncpg.Connection, alliance: ClearingAlliance, day: date, codes: dict[int, str],
    journals: _Journals, progress: Progress | None = None,
) -> Computed:
    """The date's clearing with the rules in force now; call inside a REPEATABLE READ
    transaction."""
    started = time.perf_counter()
    rules = await rules_in_force(conn, alliance.id, day)
    journal = await read_day_everywhere(conn, journals.others, journals.partitions.central,
                                        alliance.id, sorted(codes), day, progress)
    positions = clear_day(journal, rules, sorted(codes))
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    return Computed(positions, rules.snapshot(codes), journal.journal_entries,
                    journal.postings, elapsed_ms, journals.partitions.names)


async def _sealed_alliance(
    conn: asyncpg.Connection, alliance_code: str, day: date
) -> ClearingAlliance:
    alliance = await find_alliance(conn, alliance_code)
    if await sealed_at(conn, alliance.id, day) is None:
        raise NotSealedError(
            f"{day} of alliance {alliance.code} is not sealed; seal it first with "
            f"`jifen clearing close-day --alliance {alliance.code} --date {day}`")
    return alliance


@asynccontextmanager
async def _reading(
    conn: asyncpg.Connection, partitions: PartitionSetup | None,
) -> AsyncIterator[_Journals]:
    """Every partition found and connected before anything is locked or read."""
    found = await find_partitions(conn, partitions)
    async with partition_connections(found) as others:
        yield _Journals(found, others)


class _DateLock:
    """Runs and adjustments of one date, one at a time: a session advisory lock (two int4
    keys, a key space apart from the single-bigint locks of migrations and the demo), taken
    before the REPEATABLE READ snapshot so the second sees what the first wrote."""

    def __init__(self, conn: asyncpg.Connection, alliance_id: int, day: date) -> None:
        self._conn = conn
        self._keys = (alliance_id, day.toordinal())

    async def __aenter__(self) -> None:
        await self._conn.execute("SELECT pg_advisory_lock($1, $2)", *self._keys)

    async def __aexit__(self, *_exc: object) -> None:
        await self._conn.execute("SELECT pg_advisory_unlock($1, $2)", *self._keys)


async def run_clearing(
    conn: asyncpg.Connection, alliance_code: str, day: date, progress: Progress | None = None,
    partitions: PartitionSetup | None = None,
) -> RunResult:
    """Clear a sealed date once; `partitions` None: no `[partitions.<name>]` is configured."""
    alliance = await _sealed_alliance(conn, alliance_code, day)
    async with _reading(conn, partitions) as journals, _DateLock(conn, alliance.id, day):
        async with conn.transaction(isolation="repeatable_read"):
            runs = await runs_of(conn, alliance.id, day)
            if runs:
                raise AlreadyClearedError(
                    f"{day} of alliance {alliance.code} was already cleared by run "
                    f"{runs[0].id}; use `jifen clearing adjust` to correct it")
            codes = await merchant_codes(conn, alliance.id)
            computed = await compute(conn, alliance, day, codes, journals, progress)
            nets, instructions = settle(computed.positions)
            run_id = await write_run(conn, NewRun(
                alliance.id, day, "run", None, None, computed.rules, computed.journal_entries,
                computed.postings, computed.elapsed_ms, computed.partitions),
                computed.positions, nets, instructions)
    return run_result(alliance.code, day, run_id, "run", None, codes, computed.positions,
                      computed.journal_entries, computed.elapsed_ms, computed.partitions)


async def adjust_clearing(
    conn: asyncpg.Connection, alliance_code: str, day: date, reason: str,
    progress: Progress | None = None, partitions: PartitionSetup | None = None,
) -> RunResult | None:
    """An adjustment run of the deltas against the stored runs; None if nothing changed."""
    alliance = await _sealed_alliance(conn, alliance_code, day)
    async with _reading(conn, partitions) as journals, _DateLock(conn, alliance.id, day):
        async with conn.transaction(isolation="repeatable_read"):
            runs = await _cleared_runs(conn, alliance, day)
            codes = await merchant_codes(conn, alliance.id)
            computed = await compute(conn, alliance, day, codes, journals, progress)
            changed = deltas(computed.positions,
                             await positions_of(conn, [run.id for run in runs]))
            if not changed:
                return None
            nets, instructions = settle(changed)
            run_id = await write_run(conn, NewRun(
                alliance.id, day, "adjustment", runs[0].id, reason, computed.rules,
                computed.journal_entries, computed.postings, computed.elapsed_ms,
                computed.partitions), changed, nets, instructions)
    return run_result(alliance.code, day, run_id, "adjustment", runs[0].id, codes, changed,
                      computed.journal_entries, computed.elapsed_ms, computed.partitions)


async def verify_clearing(
    conn: asyncpg.Connection, alliance_code: str, day: date, progress: Progress | None = None,
    partitions: PartitionSetup | None = None,
) -> VerifyResult:
    """Recompute and compare with the run and its adjustments, summed."""
    alliance = await find_alliance(conn, alliance_code)
    async with _reading(conn, partitions) as journals, \
            conn.transaction(isolation="repeatable_read", readonly=True):
        runs = await _cleared_runs(conn, alliance, day)
        codes = await merchant_codes(conn, alliance.id)
        computed = await compute(conn, alliance, day, codes, journals, progress)
        stored = await positions_of(conn, [run.id for run in runs])
    recomputed_totals, stored_totals = totals(computed.positions), totals(stored)
    differences = [describe_difference(key, stored_totals.get(key), recomputed_totals.get(key),
                                       codes)
                   for key in sorted(recomputed_totals.keys() | stored_totals.keys(),
                                     key=lambda key: (key[0] is None, key[0] or 0, key[1]))
                   if _amounts(stored_totals.get(key)) != _amounts(recomputed_totals.get(key))]
    return VerifyResult(alliance.code, day, [run.id for run in runs], not differences,
                        differences)


def _amounts(position: Position | None) -> tuple[int, int, int]:
    return (0, 0, 0) if position is None else (position.points, position.amount_fen,
                                               position.count)


async def _cleared_runs(conn: asyncpg.Connection, alliance: ClearingAlliance, day: date):
    runs = await runs_of(conn, alliance.id, day)
    if not runs:
        raise NotClearedError(
            f"{day} of alliance {alliance.code} has not been cleared; run "
            f"`jifen clearing run --alliance {alliance.code} --date {day}` first")
    return runs
