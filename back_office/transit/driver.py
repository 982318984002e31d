"""The driver of transfers between partitions (`jifen transit drive`, supervised by `jifen up`
with partitions, jifen-transit.service): on central, it takes each open transfer one transition
at a time, each in one transaction (the transfer's row locked, its step's command written with
its new state), so that a crash of the driver, a host, or central at any point leaves a named
state and every issued command in the database; the next start goes on from there. A page of
transfers' transitions shares one commit (each transfer still moves one state at a time). It also
relays referral bonuses owed across partitions: one command per credit that central folded
from a partition's bonus owed (migration 042), written once (a unique index).

It wakes on the change channel (a step's outcome folded on central, a transfer approved, a
bonus owed) and reads the open transfers every `poll_interval_s` besides.

Fault injection for the kill tests: with JIFEN_TRANSIT_KILL_AFTER set to a comma-separated list
of states (`crediting`: any transfer's; `2:voiding`: transfer 2's), the process ends at once
(exit 137, as a SIGKILL) right after committing a transition into one of them: the test
restarts it and checks that the transfer still ends applied or undone.
"""

from __future__ import annotations

import os
import time

import anyio
import asyncpg
import msgspec
import structlog

from back_office.provisioning.notify import notify_change
from back_office.transit import metrics
from back_office.transit.states import (
    Move,
    Step,
    StepOutcome,
    TransferState,
    check_invariants,
    check_move,
    next_move,
)
from database.connect import DatabaseUnavailableError, connect
from proto.changes import CHANNEL, Change, Table

log = structlog.get_logger("back_office.transit")

KILL_AFTER_ENV = "JIFEN_TRANSIT_KILL_AFTER"
KILLED_EXIT_CODE = 137
# Open transfers read at a time: each pass works through them all, a page at a time.
TRANSFERS_PER_READ = 500
# Transitions taken in one transaction of central's: a commit per page rather than per
# transition (1,000 transfers drained in 9.5 s with a commit each, docs/transfers.md), and a
# page short enough that its locks and its statement stay small.
TRANSITIONS_PER_COMMIT = 100
CONNECT_TIMEOUT_S = 10.0
RECONNECT_S = 1.0

_OPEN_SQL = """
SELECT id FROM transfers
WHERE state NOT IN ('refused', 'credited', 'voided', 'stuck') AND id > $1 ORDER BY id LIMIT $2
"""
_TRANSFER_SQL = """
SELECT id, state, payload::text AS payload, from_card_id, to_card_id, approval_id
FROM transfers WHERE id = $1 FOR UPDATE
"""
_STEPS_SQL = """
SELECT transfer_step, state, result_code, result FROM host_commands WHERE transfer_id = $1
"""
_WRITE_STEP_SQL = """
INSERT INTO host_commands (kind, payload, card_id, other_card_id, approval_id, transfer_id,
                           transfer_step)
VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7)
"""
_MOVE_SQL = "UPDATE transfers SET state = $2, result_code = $3, result = $4 WHERE id = $1"
# Referral credits without their command, oldest first; the payload is CommandPayload's JSON.
# An anti-join over every credit: they are a few per referral across partitions, a small table.
_RELAY_SQL = """
INSERT INTO host_commands (kind, payload, card_id, referral_transaction_id)
SELECT 'referral_credit',
       jsonb_build_object('card_id', r.referrer_card_id, 'points', r.points,
                          'reason', 'referral bonus of purchase ' || r.transaction_id),
       r.referrer_card_id, r.transaction_id
FROM referral_credits r
WHERE NOT EXISTS (SELECT 1 FROM host_commands h
                  WHERE h.referral_transaction_id = r.transaction_id)
ORDER BY r.transaction_id
LIMIT $1
"""
# Referral credits relayed in one transaction.
REFERRALS_PER_RELAY = 500
# Through the partial index transfers_open (which holds the stuck ones too).
_BACKLOG_SQL = """
SELECT count(*) FILTER (WHERE state <> 'stuck'),
       count(*) FILTER (WHERE state = 'stuck'),
       coalesce(extract(epoch FROM now() - min(requested_at)
                        FILTER (WHERE state <> 'stuck')), 0)::float8
FROM transfers WHERE state NOT IN ('refused', 'credited', 'voided')
"""


class Backlog(msgspec.Struct, frozen=True):
    open: int         # not final
    stuck: int        # a void refused: an operator's
    oldest_s: float   # the oldest open one's age


async def advance_page(
    conn: asyncpg.Connection, transfer_ids: list[int],
) -> list[tuple[int, TransferState]]:
    """The next transition of each of these transfers, all in one transaction (each with its
    step's command, its row locked): one commit on central for a page of transfers, not one a
    transition. Those that moved, with their new states."""
    assert len(transfer_ids) <= TRANSITIONS_PER_COMMIT
    moved: list[tuple[int, TransferState, Move]] = []
    async with conn.transaction():
        for transfer_id in transfer_ids:
            taken = await _transition(conn, transfer_id)
            if taken is not None:
                moved.append((transfer_id, *taken))
    for transfer_id, before, move in moved:
        log.info("transfer_moved", transfer=transfer_id, before=before, state=move.state,
                 result_code=move.result_code)
    for transfer_id, _, move in moved:
        _end_here_if_asked(transfer_id, move.state)
    return [(transfer_id, move.state) for transfer_id, _, move in moved]


async def _transition(
    conn: asyncpg.Connection, transfer_id: int,
) -> tuple[TransferState, Move] | None:
    """The transfer's next transition inside the caller's transaction: its state before and
    the move (None: it waits, or is final)."""
    row = await conn.fetchrow(_TRANSFER_SQL, transfer_id)
    assert row is not None, "a transfer is never deleted"
    state = TransferState(row["state"])
    steps = {Step(step["transfer_step"]): StepOutcome(step["state"], step["result_code"],
                                                      step["result"])
             for step in await conn.fetch(_STEPS_SQL, transfer_id)}
    move = next_move(state, steps)
    if move is None:
        return None
    check_move(state, move)
    if move.writes is not None:
        await _write_step(conn, row, move)
        steps[move.writes] = StepOutcome("pending")
    check_invariants(move.state, steps)
    await conn.execute(_MOVE_SQL, transfer_id, move.state.value, move.result_code, move.result)
    return state, move


async def _write_step(conn: asyncpg.Connection, row: asyncpg.Record, move: Move) -> None:
    """The step's host command: the transfer's payload unchanged; the credit on the taker (the
    row's card, which routes it to the destination's host), the others on the giver; the
    approval named by the debit only (the host checks it there)."""
    step = move.writes
    assert step is not None
    giver, taker = row["from_card_id"], row["to_card_id"]
    card, other = (taker, giver) if step is Step.CREDIT else (giver, taker)
    approval_id = row["approval_id"] if step is Step.DEBIT else None
    await conn.execute(_WRITE_STEP_SQL, f"transit_{step.value}", row["payload"], card, other,
                       approval_id, row["id"], step.value)
    await notify_change(conn, Change(Table.HOST_COMMANDS))


async def relay_referral_credits(conn: asyncpg.Connection) -> int:
    """One command per referral credit without one (migration 042): the referrer's host posts
    it, having checked it against its copy of the credit; the commands written."""
    written = 0
    while True:
        async with conn.transaction():
            count = int((await conn.execute(_RELAY_SQL, REFERRALS_PER_RELAY)).split()[-1])
            if count:
                await notify_change(conn, Change(Table.HOST_COMMANDS))
        written += count
        if count < REFERRALS_PER_RELAY:
            return written


async def drive_once(conn: asyncpg.Connection) -> int:
    """Every open transfer taken as far as its steps' outcomes allow, a page of transitions a
    commit, and every referral credit relayed; the transitions and commands made."""
    moved, above = await relay_referral_credits(conn), 0
    while True:
        ids = [r["id"] for r in await conn.fetch(_OPEN_SQL, above, TRANSFERS_PER_READ)]
        waiting = ids
        while waiting:   # those that moved may move on at once (debited: the credit next)
            moving = []
            for first in range(0, len(waiting), TRANSITIONS_PER_COMMIT):
                moving += [transfer_id for transfer_id, _ in await advance_page(
                    conn, waiting[first:first + TRANSITIONS_PER_COMMIT])]
            moved += len(moving)
            waiting = moving
        if len(ids) < TRANSFERS_PER_READ:
            return moved
        above = ids[-1]


async def backlog(conn: asyncpg.Connection) -> Backlog:
    row = await conn.fetchrow(_BACKLOG_SQL)
    assert row is not None   # an aggregate: one row
    return Backlog(row[0], row[1], row[2])


async def drive(url: str, poll_interval_s: float, *,
                connected: list[bool] | None = None) -> None:
    """Forever: drive, then wait for a change or the poll interval; a lost connection is
    opened again."""
    while True:
        try:
            conn = await connect(url, CONNECT_TIMEOUT_S)
        except DatabaseUnavailableError as exc:
            log.warning("transit_database_unavailable", error=str(exc))
            await anyio.sleep(RECONNECT_S)
            continue
        try:
            await _drive_on(conn, poll_interval_s, connected)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("transit_database_lost", error=str(exc))
        finally:
            if connected is not None:
                connected[0] = False
            with anyio.CancelScope(shield=True):
                await conn.close(timeout=CONNECT_TIMEOUT_S)
        await anyio.sleep(RECONNECT_S)


async def _drive_on(conn: asyncpg.Connection, poll_interval_s: float,
                    connected: list[bool] | None) -> None:
    heard = _Wake()
    await conn.add_listener(CHANNEL, heard)
    if connected is not None:
        connected[0] = True
    while True:
        heard.event = anyio.Event()
        started = time.monotonic()
        moved = await drive_once(conn)
        now = await backlog(conn)
        metrics.observe(now.open, now.stuck, now.oldest_s, moved, time.monotonic() - started)
        with anyio.move_on_after(poll_interval_s):
            await heard.event.wait()


class _Wake:
    """The listener's callback: a change heard ends the driver's wait."""

    def __init__(self) -> None:
        self.event = anyio.Event()

    def __call__(self, *_args: object) -> None:
        self.event.set()


def _end_here_if_asked(transfer_id: int, state: TransferState) -> None:
    wanted = {name.strip() for name in os.environ.get(KILL_AFTER_ENV, "").split(",")}
    if state.value in wanted or f"{transfer_id}:{state.value}" in wanted:
        log.warning("transit_killed_for_test", transfer=transfer_id, state=state)
        os._exit(KILLED_EXIT_CODE)
