"""An import run's report: every line of the file, posted, duplicate, rejected (with the
reason, and the response code where the host or the card lookup gave one) or pending (the
host had not decided it when the run stopped waiting); its counts; and the CSV for the
merchant (UTF-8 with a BOM, which spreadsheet programs need to read Chinese text)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import msgspec

from back_office.purchase_imports.file_format import Line, Rejected
from proto.pan import mask_pan

POSTED, DUPLICATE, REJECTED, PENDING = "posted", "duplicate", "rejected", "pending"
_POINTS = re.compile(r"^\+([0-9]+) points")
_NOT_DECIDED = "not decided by the host yet: it posts it when it can (the file again shows it)"
CSV_COLUMNS = ("line_number", "line_id", "card", "amount_fen", "business_date", "outcome",
               "result_code", "reason", "command_id")


class LineResult(msgspec.Struct, frozen=True):
    line_number: int
    line_id: str | None
    outcome: str                 # posted, duplicate, rejected, pending
    result_code: str | None      # 00 posted; the refusal's code; None: the line did not read
    reason: str | None           # the host's result ("+123 points on 2026-12-01"), or why not
    card: str | None = None      # masked
    amount_fen: int | None = None
    business_date: date | None = None
    command_id: int | None = None


class ImportReport(msgspec.Struct, frozen=True):
    run_id: int
    merchant_code: str
    file_name: str
    line_count: int
    posted: int
    duplicate: int
    rejected: int
    pending: int
    points: int                  # earned by the lines posted in this run
    lines: list[LineResult]


def build_report(
    run_id: int, merchant_code: str, file_name: str, lines: list[Line],
    rejected: list[Rejected], commands: dict[int, int],
    duplicates: dict[int, tuple[int, str, str | None]],
    outcomes: dict[int, tuple[str, str | None, str | None]],
) -> ImportReport:
    """Every line in file order, from what the file check, the card lookup, the insert and the
    host decided."""
    results = [LineResult(r.line_number, r.line_id, REJECTED, r.result_code, r.reason,
                          r.pan_masked) for r in rejected]
    points = 0
    for line in lines:
        card, number = mask_pan(line.pan), line.line_number
        if number in duplicates:
            earlier_id, state, code = duplicates[number]
            results.append(LineResult(
                number, line.line_id, DUPLICATE, code,
                f"imported before: command {earlier_id}, {state}", card, line.amount_fen,
                line.business_date, earlier_id))
            continue
        command_id = commands[number]
        state, code, result = outcomes.get(command_id, ("pending", None, None))
        outcome = {"done": POSTED, "refused": REJECTED}.get(state, PENDING)
        if outcome == PENDING:
            result = _NOT_DECIDED
        if outcome == POSTED and result is not None and (match := _POINTS.match(result)):
            points += int(match[1])
        results.append(LineResult(number, line.line_id, outcome, code, result, card,
                                  line.amount_fen, line.business_date, command_id))
    results.sort(key=lambda result: result.line_number)
    counts = {outcome: 0 for outcome in (POSTED, DUPLICATE, REJECTED, PENDING)}
    for line_result in results:
        counts[line_result.outcome] += 1
    return ImportReport(run_id, merchant_code, file_name, len(results), counts[POSTED],
                        counts[DUPLICATE], counts[REJECTED], counts[PENDING], points, results)


def report_csv(report: ImportReport) -> bytes:
    """One row per line of the file, UTF-8 with a BOM."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in report.lines:
        writer.writerow(["" if value is None else value
                         for value in (getattr(line, column) for column in CSV_COLUMNS)])
    return out.getvalue().encode("utf-8-sig")
