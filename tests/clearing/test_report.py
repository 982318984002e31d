"""`jifen clearing report`: the HQ summary and merchant detail agree with the clearing tables,
adjustments show as original + adjustments = final, the terminal batches of the day out of
balance or never reconciled are listed, the three formats, and clear refusals."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import anyio
import asyncpg
import pytest

from clearing import adjust_clearing, close_day, find_alliance
from clearing.errors import NotClearedError, NotSealedError, UnknownError
from clearing.reports import build_report
from clearing.reports.model import (
    NOT_RECONCILED,
    OUT_OF_BALANCE,
    PAID_BY_HQ,
    PAYS_HQ,
    ClearingReport,
)
from clearing.reports.terminals import day_span
from tests.clearing.report_kit import (
    ALLIANCE,
    DAY,
    TERMINALS_NOT_RECONCILED,
    TERMINALS_OUT_OF_BALANCE,
    cleared_day,
    generated_day,
)

pytestmark = pytest.mark.anyio


async def _report(url: str, merchant: str | None = None) -> ClearingReport:
    connection = await asyncpg.connect(url)
    try:
        return await build_report(connection, ALLIANCE, DAY, merchant)
    finally:
        await connection.close()


async def test_the_report_agrees_with_the_clearing_tables(database_url):
    await cleared_day(database_url)
    report = await _report(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        nets = {row[0]: row[1] for row in await connection.fetch(
            "SELECT m.merchant_code, n.net_fen FROM clearing_nets n "
            "LEFT JOIN merchants m ON m.id = n.merchant_id")}
    finally:
        await connection.close()
    assert [run.kind for run in report.runs] == ["run"]
    assert len(report.merchants) == 3
    summary = report.summary
    assert summary is not None
    for detail in report.merchants:
        assert detail.net.final_fen == nets[detail.merchant]
        assert detail.net.adjustments_fen == 0
        assert detail.net.final_fen == sum(line.amount.final_fen for line in detail.lines)
        assert detail.instruction.amount_fen == abs(detail.net.final_fen)
        assert detail.instruction.direction == (PAYS_HQ if detail.net.final_fen < 0
                                                else PAID_BY_HQ)
        assert detail.commission.final_fen < 0     # HQ keeps a commission from everyone
    assert summary.hq_net.final_fen == nets[None]
    assert summary.hq_net.final_fen + sum(d.net.final_fen for d in report.merchants) == 0
    assert summary.paid_to_hq_fen - summary.paid_by_hq_fen == summary.hq_net.final_fen
    for total in summary.categories:
        lines = [line for detail in report.merchants for line in detail.lines
                 if line.category == total.category]
        assert total.amount.final_fen == sum(line.amount.final_fen for line in lines)
        assert total.points == sum(line.points for line in lines)
    exchange_funding = next(line for line in summary.hq_lines
                            if line.category == "points_exchanged")
    assert exchange_funding.amount.final_fen < 0 < exchange_funding.points


async def test_an_adjustment_shows_as_original_plus_adjustments(database_url):
    await cleared_day(database_url)
    before = await _report(database_url)
    first = before.merchants[0]
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO settlement_rules (alliance_id, merchant_id, effective_from, "
            "issue_price_fen, redemption_rate_fen, commission_bp, commission_fen_per_txn) "
            "SELECT alliance_id, id, $2, 2, 0.8, 50, 1 FROM merchants "
            "WHERE merchant_code = $1", first.merchant, DAY)
        adjustment = await adjust_clearing(connection, ALLIANCE, DAY, "issue price corrected")
    finally:
        await connection.close()
    assert adjustment is not None
    after = await _report(database_url)
    assert [run.kind for run in after.runs] == ["run", "adjustment"]
    assert after.runs[1].reason == "issue price corrected"
    changed = after.merchants[0]
    issued = next(line for line in changed.lines if line.category == "points_issued")
    issued_before = next(line for line in first.lines if line.category == "points_issued")
    assert issued.amount.original_fen == issued_before.amount.final_fen
    assert issued.amount.adjustments_fen == -issued.points      # one more fen per point
    assert changed.net.final_fen == changed.net.original_fen + changed.net.adjustments_fen
    assert changed.net.adjustments_fen == issued.amount.adjustments_fen
    assert after.merchants[1].net == before.merchants[1].net
    assert after.summary.hq_net.final_fen + sum(d.net.final_fen for d in after.merchants) == 0


async def test_terminal_batches_out_of_balance_or_never_reconciled(database_url):
    await cleared_day(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        codes = [row[0] for row in await connection.fetch(
            "SELECT terminal_code FROM terminals t JOIN merchants m ON m.id = t.merchant_id "
            "JOIN alliances a ON a.id = m.alliance_id WHERE a.code = $1 ORDER BY 1", ALLIANCE)]
        start, end = day_span(await find_alliance(connection, ALLIANCE), DAY)
        # An empty batch closed 95 within the day is listed; one closed the day before is not.
        await connection.execute(
            "INSERT INTO terminal_batches VALUES ($1, 7, $2, $3, '95'), ($1, 8, $4, $5, '95')",
            codes[0], start + timedelta(hours=1), start + timedelta(hours=2),
            start - timedelta(hours=3), start - timedelta(hours=1))
    finally:
        await connection.close()
    report = await _report(database_url)
    listed = {(batch.terminal, batch.batch_number): batch for batch in report.terminal_batches}
    expected = {(codes[i], 1) for i in TERMINALS_OUT_OF_BALANCE + TERMINALS_NOT_RECONCILED}
    assert set(listed) == expected | {(codes[0], 7)}
    for index in TERMINALS_OUT_OF_BALANCE:
        batch = listed[codes[index], 1]
        assert (batch.state, batch.result_code) == (OUT_OF_BALANCE, "95")
        assert batch.transactions > 0
    for index in TERMINALS_NOT_RECONCILED:
        batch = listed[codes[index], 1]
        assert (batch.state, batch.closed_at) == (NOT_RECONCILED, None)
    assert listed[codes[0], 7].transactions == 0
    assert start <= listed[codes[0], 7].closed_at < end
    only = await _report(database_url, report.merchants[0].merchant)
    assert {batch.merchant for batch in only.terminal_batches} <= {report.merchants[0].merchant}


async def test_refusals_name_what_is_wrong(database_url):
    await generated_day(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        with pytest.raises(UnknownError, match="no alliance NOPE"):
            await build_report(connection, "NOPE", DAY)
        with pytest.raises(UnknownError, match="no merchant NOPE"):
            await build_report(connection, ALLIANCE, DAY, "NOPE")
        with pytest.raises(NotSealedError, match="not sealed"):
            await build_report(connection, ALLIANCE, DAY)
        await close_day(connection, ALLIANCE, DAY, datetime.now(UTC), "test")
        with pytest.raises(NotClearedError, match="not cleared"):
            await build_report(connection, ALLIANCE, DAY)
    finally:
        await connection.close()


async def test_the_command_prints_table_csv_and_json(database_url, jifen, tmp_path):
    await cleared_day(database_url)
    base = ("clearing", "report", "--alliance", ALLIANCE, "--date", str(DAY))
    table = await anyio.to_thread.run_sync(jifen, *base)
    assert table.exit_code == 0, table.err
    for label in ("总帐 HQ summary", "明细 Merchant detail", "终端对账", "积分发行",
                  "付总部"):
        assert label in table.out
    as_json = await anyio.to_thread.run_sync(jifen, *base, "--format", "json")
    document = json.loads(as_json.out)
    assert isinstance(document["summary"]["hq_net"]["final_fen"], int)
    merchant = document["merchants"][0]["merchant"]
    as_csv = await anyio.to_thread.run_sync(jifen, *base, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.out)))
    net = next(row for row in rows if row["party"] == merchant and row["category"] == "net")
    fen = document["merchants"][0]["net"]["final_fen"]
    assert net["final_yuan"] == f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"
    out = tmp_path / "one.json"
    one = await anyio.to_thread.run_sync(jifen, *base, "--merchant", merchant, "--format",
                                         "json", "--out", str(out))
    assert one.exit_code == 0 and one.out == ""
    single = json.loads(out.read_text())
    assert single["summary"] is None and [m["merchant"] for m in single["merchants"]] == [
        merchant]


async def test_the_command_refuses_clearly(database_url, jifen):
    await generated_day(database_url)
    cases = [(("--alliance", "NOPE", "--date", str(DAY)), "no alliance NOPE"),
             (("--alliance", ALLIANCE, "--date", "2026-13-01"), "bad date"),
             (("--alliance", ALLIANCE, "--date", str(DAY), "--merchant", "X"), "no merchant X"),
             (("--alliance", ALLIANCE, "--date", str(DAY)), "not sealed")]
    for arguments, message in cases:
        result = await anyio.to_thread.run_sync(jifen, "clearing", "report", *arguments)
        assert result.exit_code == 1, (arguments, result)
        assert message in result.err
