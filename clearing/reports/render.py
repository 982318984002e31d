"""The report as text for a person (aligned table, Chinese labels beside English), as CSV
(yuan with two decimals) and as JSON (integer fen)."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Sequence

import msgspec

from clearing.reports.model import (
    BATCH_STATE_LABELS,
    INSTRUCTION_LABELS,
    Amounts,
    BatchIssue,
    ClearingReport,
    Line,
    category_label,
)
from clearing.results import format_fen

CSV_COLUMNS = ("section", "party", "category", "label", "points", "count", "original_yuan",
               "adjustments_yuan", "final_yuan", "detail")
_AMOUNT_HEADERS = ("points 积分", "count 笔数", "original 原始", "adjustments 调整",
                   "final 最终")


def render_json(report: ClearingReport) -> bytes:
    return msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n"


def display_width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - display_width(text))
    return fill + text if right else text + fill


def format_rows(header: Sequence[str], rows: Sequence[Sequence[str]],
                right_from: int) -> list[str]:
    """Aligned columns; those from index `right_from` on are right-aligned (numbers)."""
    widths = [max(display_width(row[index]) for row in (header, *rows))
              for index in range(len(header))]
    return ["  ".join(_pad(cell, widths[index], index >= right_from)
                      for index, cell in enumerate(row)).rstrip()
            for row in (header, *rows)]


def _amount_cells(amount: Amounts) -> list[str]:
    return [format_fen(amount.original_fen), format_fen(amount.adjustments_fen),
            format_fen(amount.final_fen)]


def _line_cells(line: Line) -> list[str]:
    return [category_label(line.category), str(line.points), str(line.count),
            *_amount_cells(line.amount)]


def render_table(report: ClearingReport) -> str:
    lines = [f"清算报告 Clearing report: alliance {report.alliance}, business date "
             f"{report.business_date}",
             f"sealed {report.sealed_at.isoformat(timespec='seconds')}; generated "
             f"{report.generated_at.isoformat(timespec='seconds')}"]
    for run in report.runs:
        what = "run" if run.kind == "run" else f"adjustment of run {run.adjusts_run_id}"
        reason = f": {run.reason}" if run.reason else ""
        lines.append(f"  {what} {run.run_id} at {run.created_at.isoformat(timespec='seconds')}"
                     f" by {run.created_by}{reason}")
    lines.append("Amounts in yuan (元); + HQ pays the merchant, - the merchant pays HQ; "
                 "original + adjustments = final.")
    if report.summary is not None:
        lines += ["", *_summary_lines(report)]
    lines += ["", "明细 Merchant detail"]
    for detail in report.merchants:
        lines += ["", f"{detail.merchant}  {detail.name}"]
        rows = [_line_cells(line) for line in detail.lines]
        rows.append(["净额 net", "", "", *_amount_cells(detail.net)])
        lines += ["  " + row for row in format_rows(("category 类别", *_AMOUNT_HEADERS),
                                                     rows, 1)]
        instruction = detail.instruction
        lines.append(f"  结算 settlement: {instruction.direction} "
                     f"{INSTRUCTION_LABELS[instruction.direction]} "
                     f"{format_fen(instruction.amount_fen)}")
    if not report.merchants:
        lines.append("  (no merchant has a position)")
    lines += ["", *_batch_lines(report.terminal_batches)]
    return "\n".join(lines) + "\n"


def _summary_lines(report: ClearingReport) -> list[str]:
    summary = report.summary
    assert summary is not None
    rows = [_line_cells(line) for line in summary.categories]
    rows.append(["总部净额 HQ net", "", "", *_amount_cells(summary.hq_net)])
    rows += [_line_cells(line) for line in summary.hq_lines]
    return ["总帐 HQ summary (all merchants)",
            *format_rows(("category 类别", *_AMOUNT_HEADERS), rows, 1),
            f"merchants paying HQ 付总部: {summary.merchants_paying_hq}, "
            f"{format_fen(summary.paid_to_hq_fen)}; "
            f"merchants paid by HQ 总部付: {summary.merchants_paid_by_hq}, "
            f"{format_fen(summary.paid_by_hq_fen)}",
            f"journal entries of the date read by the run: {report.runs[0].journal_entries}"]


def _batch_lines(batches: list[BatchIssue]) -> list[str]:
    title = "终端对账 Terminal reconciliation: batches out of balance or never reconciled"
    if not batches:
        return [title, "  (none: every batch of the date was reconciled and balanced)"]
    rows = [[batch.merchant, batch.terminal, f"{batch.batch_number:06d}",
             " ".join(BATCH_STATE_LABELS[batch.state]), _when(batch.opened_at),
             _when(batch.closed_at), batch.result_code or "-", str(batch.transactions)]
            for batch in batches]
    header = ("merchant", "terminal", "batch", "state 状态", "opened", "closed", "code",
              "transactions")
    return [title, *("  " + row for row in format_rows(header, rows, 7))]


def _when(value: object) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds")   # type: ignore


def csv_rows(report: ClearingReport) -> list[list[str]]:
    """The report as rows of CSV_COLUMNS: summary, merchant lines, nets, batches."""
    rows: list[list[str]] = []
    summary = report.summary
    if summary is not None:
        rows += [_csv_line("summary", "ALL", line) for line in summary.categories]
        rows.append(_csv_amounts("summary", "HQ", "net", "总部净额 HQ net", summary.hq_net))
        rows += [_csv_line("summary", "HQ", line) for line in summary.hq_lines]
    for detail in report.merchants:
        rows += [_csv_line("merchant", detail.merchant, line) for line in detail.lines]
        rows.append(_csv_amounts("merchant", detail.merchant, "net", "净额 net", detail.net))
        direction = detail.instruction.direction
        rows.append(["merchant", detail.merchant, "instruction",
                     f"{INSTRUCTION_LABELS[direction]} {direction}", "", "", "", "",
                     format_fen(detail.instruction.amount_fen), detail.name])
    for batch in report.terminal_batches:
        rows.append(["terminal_batch", batch.merchant, batch.terminal,
                     " ".join(BATCH_STATE_LABELS[batch.state]), "", str(batch.transactions),
                     "", "", "", f"batch {batch.batch_number:06d} opened "
                     f"{_when(batch.opened_at)} closed {_when(batch.closed_at)} "
                     f"code {batch.result_code or '-'}"])
    return rows


def _csv_line(section: str, party: str, line: Line) -> list[str]:
    return [section, party, line.category, category_label(line.category), str(line.points),
            str(line.count), *_amount_cells(line.amount), ""]


def _csv_amounts(section: str, party: str, category: str, label: str,
                 amount: Amounts) -> list[str]:
    return [section, party, category, label, "", "", *_amount_cells(amount), ""]


def render_csv(report: ClearingReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(report))
    return buffer.getvalue()
