"""An import run: the file checked, its good lines sent to the account host as commands (one
per line, unique for ever by merchant and line id), their outcomes waited for, and the report
kept (purchase_import_runs, purchase_import_lines) with one audit row (migration 036).

Commands are inserted a chunk at a time, each chunk committed and announced, so that the host
posts the first while the rest is still being written; a line whose (merchant, line id) has a
command already inserts nothing (ON CONFLICT DO NOTHING on the unique index) and is reported
as a duplicate, with what became of it the first time.

Every step but reading the merchant and the card ranges is a function of migration 036, the
same for HQ and for a merchant admin: the database checks who may import for the merchant.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import anyio
import asyncpg

from back_office.audit_trail.masking import mask_fields
from back_office.provisioning.notify import notify_change
from back_office.purchase_imports.errors import ImportMerchantError
from back_office.purchase_imports.file_format import Alliance, Line, Rejected, read_file
from back_office.purchase_imports.report import ImportReport, build_report
from proto.changes import Change, Table
from proto.keys.cards import pan_hmac
from proto.pan import mask_pan
from proto.purchase_imports import MERCHANT_ID_MAX, PurchasePayload, encode_purchase

# Commands inserted and announced per transaction: the host starts on the first chunk while
# the next is written; each is one statement of a few tens of milliseconds.
CHUNK_LINES = 5_000
# Card numbers looked up per query (one array parameter of hashes).
LOOKUP_CARDS_MAX = 10_000
# How often the waiting session counts the run's pending commands: the host decides a few
# thousand a second, so a few looks a second keep the progress bar moving.
_POLL_INTERVAL_S = 0.2

Progress = Callable[[int, int], None]   # (lines decided, lines in the file)

_MERCHANT_SQL = """
SELECT m.id, m.active, m.alliance_id, a.timezone, a.cutover_local_time
FROM merchants m JOIN alliances a ON a.id = m.alliance_id WHERE m.merchant_code = $1
"""
# Each step of a run is a function of migration 036, which checks that the session may
# import for the merchant (HQ, or that merchant's admin) and runs with the back office's
# rights.
_CARDS_SQL = "SELECT pan_hmac, card_id FROM purchase_import_cards($1, $2::bytea[])"
_START_SQL = "SELECT purchase_import_start($1, $2, $3, $4)"
_SUBMIT_SQL = """
SELECT made_id, made_line_id FROM purchase_import_submit($1, $2::text[], $3::bigint[],
                                                         $4::text[])
"""
_EARLIER_SQL = """
SELECT line_id, command_id, state, result_code FROM purchase_import_earlier($1, $2::text[])
"""
_PENDING_SQL = "SELECT purchase_import_pending($1, $2, $3)"
_OUTCOMES_SQL = """
SELECT id, state, result_code, result FROM purchase_import_outcomes($1, $2::bigint[])
"""
_FINISH_SQL = """
SELECT purchase_import_finish($1, $2::integer[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::bigint[], $8, $9, $10, $11, $12::jsonb)
"""


async def import_purchases(
    conn: asyncpg.Connection, lookup_key: bytes, merchant_code: str, file_name: str,
    data: bytes, *, stall_s: float, progress: Progress | None = None,
) -> ImportReport:
    """Import `data` (the file's bytes) for the merchant; waits for the host while it makes
    progress, at most `stall_s` without (lines still pending then are reported so)."""
    merchant = await conn.fetchrow(_MERCHANT_SQL, merchant_code)
    if merchant is None:
        raise ImportMerchantError(f"no merchant {merchant_code}")
    if not merchant["active"]:
        raise ImportMerchantError(f"merchant {merchant_code} is not active")
    merchant_id = merchant["id"]
    if merchant_id > MERCHANT_ID_MAX:
        raise ImportMerchantError(f"merchant id {merchant_id} has no virtual terminal")
    alliance = Alliance(ZoneInfo(merchant["timezone"]), merchant["cutover_local_time"])
    lines, rejected = read_file(data, alliance, datetime.now(UTC))
    lines, refused_cards, card_ids = await _cards(conn, lookup_key, lines, merchant_id)
    rejected += refused_cards
    total = len(lines) + len(rejected)
    run_id = await _start(conn, merchant_id, file_name, data, total)
    commands, duplicates = await _submit(conn, run_id, merchant_id, lines, card_ids)
    if progress is not None:
        progress(total - len(commands), total)
    await _wait(conn, merchant_id, sorted(commands.values()), total, stall_s, progress)
    outcomes = await _outcomes(conn, merchant_id, list(commands.values()))
    report = build_report(run_id, merchant_code, file_name, lines, rejected, commands,
                          duplicates, outcomes)
    await _finish(conn, report)
    return report


async def _cards(
    conn: asyncpg.Connection, lookup_key: bytes, lines: list[Line], merchant_id: int,
) -> tuple[list[Line], list[Rejected], dict[int, int]]:
    """The lines whose card is issued in the merchant's alliance (and their card ids, by line
    number), and the others rejected 14."""
    ranges = [(low, high) for low, high in await conn.fetch(
        "SELECT bin_low, bin_high FROM card_ranges")]
    hashes = {line.line_number: pan_hmac(lookup_key, line.pan) for line in lines}
    found: dict[bytes, int] = {}
    unique = list(set(hashes.values()))
    for start in range(0, len(unique), LOOKUP_CARDS_MAX):
        for pan_hash, card_id in await conn.fetch(
                _CARDS_SQL, merchant_id, unique[start:start + LOOKUP_CARDS_MAX]):
            found[pan_hash] = card_id
    good: list[Line] = []
    refused: list[Rejected] = []
    card_ids: dict[int, int] = {}
    for line in lines:
        masked = mask_pan(line.pan)
        card_id = found.get(hashes[line.line_number])
        if not any(low <= line.pan[:len(low)] <= high for low, high in ranges):
            reason = f"no card range holds {masked}"
        elif card_id is None:
            reason = f"no card {masked} is issued in the merchant's alliance"
        else:
            good.append(line)
            card_ids[line.line_number] = card_id
            continue
        refused.append(Rejected(line.line_number, line.line_id, reason, "14", masked))
    return good, refused, card_ids


async def _start(
    conn: asyncpg.Connection, merchant_id: int, file_name: str, data: bytes, total: int,
) -> int:
    """The run's row, and the merchant's virtual terminal if it has none yet."""
    run_id = await conn.fetchval(_START_SQL, merchant_id, file_name[-200:],
                                 hashlib.sha256(data).digest(), total)
    assert isinstance(run_id, int)
    return run_id


async def _submit(
    conn: asyncpg.Connection, run_id: int, merchant_id: int, lines: list[Line],
    card_ids: dict[int, int],
) -> tuple[dict[int, int], dict[int, tuple[int, str, str | None]]]:
    """Commands made, by line number; and the duplicates, by line number: the earlier
    command's id, state and code."""
    commands: dict[int, int] = {}
    duplicates: dict[int, tuple[int, str, str | None]] = {}
    for start in range(0, len(lines), CHUNK_LINES):
        chunk = lines[start:start + CHUNK_LINES]
        payloads = [encode_purchase(PurchasePayload(
            merchant_id, line.line_id, card_ids[line.line_number], line.amount_fen,
            line.business_date, run_id, line.receipt)) for line in chunk]
        async with conn.transaction():
            made = {line_id: command_id for command_id, line_id in await conn.fetch(
                _SUBMIT_SQL, run_id, payloads, [card_ids[line.line_number] for line in chunk],
                [line.line_id for line in chunk])}
            if made:
                await notify_change(conn, Change(Table.HOST_COMMANDS))
        others = [line.line_id for line in chunk if line.line_id not in made]
        earlier = {row["line_id"]: (row["command_id"], row["state"], row["result_code"])
                   for row in await conn.fetch(_EARLIER_SQL, merchant_id, others)} \
            if others else {}
        for line in chunk:
            if line.line_id in made:
                commands[line.line_number] = made[line.line_id]
            else:
                duplicates[line.line_number] = earlier[line.line_id]
    return commands, duplicates


async def _wait(
    conn: asyncpg.Connection, merchant_id: int, command_ids: list[int], total: int,
    stall_s: float, progress: Progress | None,
) -> None:
    """Until the host has decided every command of the run, or made no progress for
    `stall_s`."""
    if not command_ids:
        return
    low, high = command_ids[0], command_ids[-1]
    pending = len(command_ids)
    last_change = anyio.current_time()
    while pending:
        now_pending = await conn.fetchval(_PENDING_SQL, merchant_id, low, high)
        assert isinstance(now_pending, int)
        if progress is not None:
            progress(total - min(now_pending, len(command_ids)), total)
        if now_pending != pending:
            pending, last_change = now_pending, anyio.current_time()
        elif anyio.current_time() - last_change > stall_s:
            return
        if pending:
            await anyio.sleep(_POLL_INTERVAL_S)


async def _outcomes(
    conn: asyncpg.Connection, merchant_id: int, command_ids: list[int],
) -> dict[int, tuple[str, str | None, str | None]]:
    outcomes: dict[int, tuple[str, str | None, str | None]] = {}
    for start in range(0, len(command_ids), LOOKUP_CARDS_MAX):
        for row in await conn.fetch(_OUTCOMES_SQL, merchant_id,
                                    command_ids[start:start + LOOKUP_CARDS_MAX]):
            outcomes[row["id"]] = (row["state"], row["result_code"], row["result"])
    return outcomes


async def _finish(conn: asyncpg.Connection, report: ImportReport) -> None:
    """Every line's result kept, the run's counts, and one audit row (no card number)."""
    lines = report.lines
    audit = mask_fields({
        "run": report.run_id, "file": report.file_name, "lines": report.line_count,
        "posted": report.posted, "duplicate": report.duplicate, "rejected": report.rejected,
        "pending": report.pending, "points": report.points})
    await conn.execute(
        _FINISH_SQL, report.run_id, [line.line_number for line in lines],
        [line.line_id for line in lines], [line.outcome for line in lines],
        [line.result_code for line in lines],
        [(line.reason or "")[:200] or None for line in lines],
        [line.command_id for line in lines], report.posted, report.duplicate,
        report.rejected, report.pending, json.dumps(audit, ensure_ascii=False, sort_keys=True))
