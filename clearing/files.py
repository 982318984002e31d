"""Settlement files of a cleared date (`jifen clearing settlement-files`): one CSV per merchant,
saying what it pays HQ or HQ pays it and why, and one for HQ with the whole alliance.

They are for spreadsheets: UTF-8 with a byte order mark (so that Excel reads the Chinese
labels as UTF-8), CRLF line ends, one header row and one table per file (every row has the
same columns), amounts in yuan with exactly two decimals made from integer fen by integer
arithmetic (-1234 fen -> "-12.34", 5 fen -> "0.05"). Each file is written to a temporary name
and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from clearing.reports.model import (
    INSTRUCTION_LABELS,
    Amounts,
    ClearingReport,
    Line,
    MerchantDetail,
    category_label,
)
from clearing.results import format_fen

# "utf-8-sig" writes the byte order mark that spreadsheets look for.
ENCODING = "utf-8-sig"
COLUMNS = ("alliance 联盟", "business_date 营业日", "merchant 商户", "merchant_name 商户名称",
           "category 类别", "item 项目", "points 积分", "count 笔数",
           "original_yuan 原始金额", "adjustments_yuan 调整金额", "final_yuan 最终金额")
HQ_PARTY = "HQ"
_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9_-]")


def yuan(amount_fen: int) -> str:
    """Two decimals, exactly, from integer fen (never a float)."""
    assert isinstance(amount_fen, int)
    return format_fen(amount_fen)


def file_name(report: ClearingReport, party: str) -> str:
    safe = _UNSAFE_IN_FILE_NAME.sub("_", party)
    return f"{_UNSAFE_IN_FILE_NAME.sub('_', report.alliance)}_{report.business_date}_{safe}.csv"


def _amounts(amount: Amounts) -> list[str]:
    return [yuan(amount.original_fen), yuan(amount.adjustments_fen), yuan(amount.final_fen)]


class _Rows:
    """Rows of COLUMNS for one file, all of the same alliance and date."""

    def __init__(self, report: ClearingReport) -> None:
        self._prefix = [report.alliance, str(report.business_date)]
        self.rows: list[list[str]] = []

    def line(self, party: str, name: str, line: Line) -> None:
        self.rows.append([*self._prefix, party, name, line.category,
                          category_label(line.category), str(line.points), str(line.count),
                          *_amounts(line.amount)])

    def amounts(self, party: str, name: str, category: str, item: str,
                amount: Amounts) -> None:
        self.rows.append([*self._prefix, party, name, category, item, "", "",
                          *_amounts(amount)])

    def instruction(self, detail: MerchantDetail) -> None:
        direction = detail.instruction.direction
        self.rows.append([*self._prefix, detail.merchant, detail.name, "instruction",
                          f"{INSTRUCTION_LABELS[direction]} {direction}", "", "", "", "",
                          yuan(detail.instruction.amount_fen)])


def merchant_rows(report: ClearingReport, detail: MerchantDetail) -> list[list[str]]:
    rows = _Rows(report)
    for line in detail.lines:
        rows.line(detail.merchant, detail.name, line)
    rows.amounts(detail.merchant, detail.name, "net", "净额 net", detail.net)
    rows.instruction(detail)
    return rows.rows


def hq_rows(report: ClearingReport) -> list[list[str]]:
    """The alliance's totals per category, HQ's net and own lines, then every merchant's net
    and instruction."""
    summary = report.summary
    assert summary is not None, "the HQ file needs the report of the whole alliance"
    rows = _Rows(report)
    for line in summary.categories:
        rows.line("ALL", "all merchants 全部商户", line)
    rows.amounts(HQ_PARTY, "总部 HQ", "net", "总部净额 HQ net", summary.hq_net)
    for line in summary.hq_lines:
        rows.line(HQ_PARTY, "总部 HQ", line)
    for detail in report.merchants:
        rows.amounts(detail.merchant, detail.name, "net", "净额 net", detail.net)
        rows.instruction(detail)
    return rows.rows


def write_csv(path: Path, rows: list[list[str]]) -> None:
    """COLUMNS and `rows` to `path`, atomically (a temporary file renamed over it)."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding=ENCODING, newline="") as stream:
        writer = csv.writer(stream)           # the excel dialect: CRLF, quoting as needed
        writer.writerow(COLUMNS)
        writer.writerows(rows)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def write_settlement_files(report: ClearingReport, directory: Path) -> list[Path]:
    """One file per merchant with a position, and the HQ file; their paths, HQ's last."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for detail in report.merchants:
        path = directory / file_name(report, detail.merchant)
        write_csv(path, merchant_rows(report, detail))
        written.append(path)
    path = directory / file_name(report, HQ_PARTY)
    write_csv(path, hq_rows(report))
    written.append(path)
    return written
