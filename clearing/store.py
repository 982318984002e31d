"""Clearing's own tables: a run and its rows are written once, in one transaction, and never
changed (a correction is another run, kind 'adjustment')."""

from __future__ import annotations

import json
from datetime import date, datetime

import asyncpg
import msgspec

from clearing.compute import Instruction, Net, Position


class StoredRun(msgspec.Struct, frozen=True):
    id: int
    kind: str                       # 'run' or 'adjustment'
    adjusts_run_id: int | None
    reason: str | None
    created_at: datetime


class NewRun(msgspec.Struct, frozen=True):
    alliance_id: int
    business_date: date
    kind: str
    adjusts_run_id: int | None
    reason: str | None
    rules: dict[str, object]
    journal_entries: int
    postings: int
    elapsed_ms: int
    partitions: list[str]           # the partitions whose journals were read


async def runs_of(conn: asyncpg.Connection, alliance_id: int, day: date) -> list[StoredRun]:
    rows = await conn.fetch(
        "SELECT id, kind, adjusts_run_id, reason, created_at FROM clearing_runs "
        "WHERE alliance_id = $1 AND business_date = $2 ORDER BY id", alliance_id, day)
    return [StoredRun(*row) for row in rows]


async def positions_of(conn: asyncpg.Connection, run_ids: list[int]) -> list[Position]:
    rows = await conn.fetch(
        "SELECT merchant_id, category, points, amount_fen, count FROM clearing_positions "
        "WHERE run_id = ANY($1::bigint[])", run_ids)
    return [Position(*row) for row in rows]


async def write_run(
    conn: asyncpg.Connection, run: NewRun, positions: list[Position], nets: list[Net],
    instructions: list[Instruction],
) -> int:
    """Insert the run and its rows; call inside the caller's transaction."""
    run_id = await conn.fetchval(
        "INSERT INTO clearing_runs (alliance_id, business_date, kind, adjusts_run_id, reason,"
        " rules, journal_entries, postings, elapsed_ms, partitions)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10) RETURNING id",
        run.alliance_id, run.business_date, run.kind, run.adjusts_run_id, run.reason,
        json.dumps(run.rules, sort_keys=True), run.journal_entries, run.postings,
        run.elapsed_ms, run.partitions)
    await conn.executemany(
        "INSERT INTO clearing_positions (run_id, merchant_id, category, points, amount_fen,"
        " count) VALUES ($1, $2, $3, $4, $5, $6)",
        [(run_id, p.merchant_id, p.category, p.points, p.amount_fen, p.count)
         for p in positions])
    await conn.executemany(
        "INSERT INTO clearing_nets (run_id, merchant_id, net_fen) VALUES ($1, $2, $3)",
        [(run_id, net.merchant_id, net.net_fen) for net in nets])
    await conn.executemany(
        "INSERT INTO settlement_instructions (run_id, payer_merchant_id, payee_merchant_id,"
        " amount_fen) VALUES ($1, $2, $3, $4)",
        [(run_id, i.payer_merchant_id, i.payee_merchant_id, i.amount_fen)
         for i in instructions])
    return run_id
