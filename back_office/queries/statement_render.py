"""A statement for people and programs: an aligned table, CSV for spreadsheets (UTF-8 with a
byte order mark, so that Excel in a Chinese locale reads it as UTF-8 and not as GBK), JSON.
Amounts stay integers (fen, points) in every format; the card is its mask."""

from __future__ import annotations

import csv
import io
import json

import msgspec

from back_office.queries.statement import Statement

FORMATS = ("table", "csv", "json")
CSV_COLUMNS = ("card", "transaction_id", "business_date", "posted_at", "kind",
               "merchant_code", "terminal_code", "rrn", "points", "points_balance",
               "stored_value_fen", "stored_value_balance_fen")
UTF8_BOM = "\ufeff"


def render(statement: Statement, output_format: str) -> bytes:
    assert output_format in FORMATS, "the CLI offers FORMATS only"
    if output_format == "csv":
        return render_csv(statement).encode("utf-8")
    if output_format == "json":
        return (json.dumps(msgspec.to_builtins(statement), indent=2, ensure_ascii=False)
                + "\n").encode("utf-8")
    return render_table(statement).encode("utf-8")


def render_csv(statement: Statement) -> str:
    """A header, then the opening balance as a line of kind `opening`, one line a
    transaction, and the closing balance as a line of kind `closing`: the file is the whole
    statement, and every line names the card (masked)."""
    out = io.StringIO()
    out.write(UTF8_BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    card = statement.pan_masked
    writer.writerow([card, "", statement.date_from.isoformat(), "", "opening", "", "", "", 0,
                     statement.opening_points, 0, statement.opening_stored_value_fen])
    for line in statement.lines:
        writer.writerow([card, line.transaction_id, line.business_date.isoformat(),
                         line.posted_at.isoformat(), line.kind, line.merchant_code or "",
                         line.terminal_code or "", line.rrn or "", line.points, line.points_balance,
                         line.stored_value_fen, line.stored_value_balance_fen])
    writer.writerow([card, "", statement.date_to.isoformat(), "", "closing", "", "", "",
                     statement.closing_points - statement.opening_points,
                     statement.closing_points,
                     statement.closing_stored_value_fen - statement.opening_stored_value_fen,
                     statement.closing_stored_value_fen])
    return out.getvalue()


def render_table(statement: Statement) -> str:
    header = ("date", "posted_at (UTC)", "kind", "merchant", "terminal", "rrn", "points",
              "points_bal", "sv_fen", "sv_bal_fen")
    rows = [("", "", "opening", "", "", "", "", str(statement.opening_points), "",
             str(statement.opening_stored_value_fen))]
    rows += [(line.business_date.isoformat(), line.posted_at.strftime("%Y-%m-%d %H:%M:%S"),
              line.kind, line.merchant_code or "back office", line.terminal_code or "-",
              line.rrn or "-",
              f"{line.points:+d}", str(line.points_balance), f"{line.stored_value_fen:+d}",
              str(line.stored_value_balance_fen)) for line in statement.lines]
    rows.append(("", "", "closing", "", "", "", "", str(statement.closing_points), "",
                 str(statement.closing_stored_value_fen)))
    widths = [max(len(column), *(len(row[index]) for row in rows))
              for index, column in enumerate(header)]
    numeric = {6, 7, 8, 9}
    lines = [f"card {statement.pan_masked}, business dates {statement.date_from} to "
             f"{statement.date_to}: {len(statement.lines)} transactions"]
    if statement.expiring:
        lines.append("points expiring (now): " + ", ".join(
            f"{lot.points} until {lot.last_day}" for lot in statement.expiring))
    for row in (header, *rows):
        lines.append("  ".join(cell.rjust(width) if index in numeric else cell.ljust(width)
                               for index, (cell, width) in enumerate(zip(row, widths,
                                                                         strict=True))))
    return "\n".join(lines) + "\n"
