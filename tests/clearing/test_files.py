"""Settlement files: UTF-8 with BOM, CRLF, one table per file that the csv module parses,
amounts in yuan with exactly two decimals from integer fen (negatives, below one yuan)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path

import anyio
import pytest

from clearing.files import COLUMNS, ENCODING, file_name, write_settlement_files, yuan
from clearing.reports.model import (
    Amounts,
    ClearingReport,
    HqSummary,
    Line,
    MerchantDetail,
    RunRef,
    instruction_for,
)
from tests.clearing.report_kit import ALLIANCE, DAY, cleared_day

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(("fen", "text"), [
    (-1234, "-12.34"), (-5, "-0.05"), (-99, "-0.99"), (-100, "-1.00"), (0, "0.00"),
    (7, "0.07"), (10, "0.10"), (100, "1.00"), (123456789, "1234567.89"),
    (-999_999_999_999_99, "-999999999999.99"),
])
def test_yuan_is_exact(fen, text):
    assert yuan(fen) == text


def _line(category: str, points: int, original: int, adjustments: int) -> Line:
    return Line(category, points, 1, Amounts.of(original, adjustments))


def _report() -> ClearingReport:
    """Two merchants: one pays HQ 12.34 after an adjustment of -0.05, one is paid 0.07."""
    now = datetime(2026, 11, 21, tzinfo=UTC)
    payer = MerchantDetail("SHOP00000000001", "面包店, \"Bakery\"", [
        _line("points_issued", 1229, -1229, -5), _line("commission", 0, 0, 0)],
        Amounts.of(0, 0), Amounts.of(-1229, -5), instruction_for(-1234))
    payee = MerchantDetail("SHOP00000000002", "Tea", [_line("points_redeemed", 9, 7, 0)],
                           Amounts.of(0, 0), Amounts.of(7, 0), instruction_for(7))
    summary = HqSummary([_line("points_issued", 1229, -1229, -5),
                         _line("points_redeemed", 9, 7, 0)], Amounts.of(1222, 5),
                        [_line("breakage", 0, 0, 0), _line("points_exchanged", 50, -50, 0)],
                        1, 1, 1234, 7)
    run = RunRef(1, "run", None, None, now, "test", 10)
    return ClearingReport("A1", date(2026, 11, 20), None, now, now, [run], summary,
                          [payer, payee], [])


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding=ENCODING, newline="") as stream:
        return list(csv.DictReader(stream))


def test_files_open_in_a_spreadsheet(tmp_path):
    paths = write_settlement_files(_report(), tmp_path / "out")
    assert [path.name for path in paths] == [
        "A1_2026-11-20_SHOP00000000001.csv", "A1_2026-11-20_SHOP00000000002.csv",
        "A1_2026-11-20_HQ.csv"]
    for path in paths:
        raw = path.read_bytes()
        assert raw.startswith(BOM) and not raw[3:].startswith(BOM)
        assert raw.count(b"\r\n") == raw.count(b"\n")          # CRLF only
        assert list(_read(path)[0]) == list(COLUMNS)
    payer = _read(paths[0])
    issued = next(row for row in payer if row["category 类别"] == "points_issued")
    assert (issued["original_yuan 原始金额"], issued["adjustments_yuan 调整金额"],
            issued["final_yuan 最终金额"]) == ("-12.29", "-0.05", "-12.34")
    instruction = payer[-1]
    assert instruction["category 类别"] == "instruction"
    assert instruction["item 项目"] == "付总部 pays HQ"
    assert instruction["final_yuan 最终金额"] == "12.34"
    assert instruction["merchant_name 商户名称"] == "面包店, \"Bakery\""   # quoted, intact
    payee = _read(paths[1])
    assert payee[-1]["item 项目"] == "总部付 paid by HQ"
    assert payee[-1]["final_yuan 最终金额"] == "0.07"
    hq = _read(paths[2])
    hq_net = next(row for row in hq if row["merchant 商户"] == "HQ"
                  and row["category 类别"] == "net")
    assert hq_net["final_yuan 最终金额"] == "12.27"
    assert {row["merchant 商户"] for row in hq if row["category 类别"] == "instruction"} == {
        "SHOP00000000001", "SHOP00000000002"}


def test_unsafe_names_do_not_escape_the_directory():
    assert file_name(_report(), "../etc/passwd") == "A1_2026-11-20____etc_passwd.csv"


@pytest.mark.anyio
async def test_the_command_writes_one_file_per_merchant_and_hq(database_url, jifen, tmp_path):
    await cleared_day(database_url)
    out = tmp_path / "files"
    result = await anyio.to_thread.run_sync(
        jifen, "clearing", "settlement-files", "--alliance", ALLIANCE, "--date", str(DAY),
        "--out", str(out))
    assert result.exit_code == 0, result.err
    report = json.loads((await anyio.to_thread.run_sync(
        jifen, "clearing", "report", "--alliance", ALLIANCE, "--date", str(DAY), "--format",
        "json")).out)
    written = sorted(path.name for path in out.iterdir())
    assert written == sorted([f"{ALLIANCE}_{DAY}_{m['merchant']}.csv"
                              for m in report["merchants"]] + [f"{ALLIANCE}_{DAY}_HQ.csv"])
    assert result.out.split() == [str(out / name) for name in [
        *(f"{ALLIANCE}_{DAY}_{m['merchant']}.csv" for m in report["merchants"]),
        f"{ALLIANCE}_{DAY}_HQ.csv"]]
    for merchant in report["merchants"]:
        rows = _read(out / f"{ALLIANCE}_{DAY}_{merchant['merchant']}.csv")
        assert rows[-1]["final_yuan 最终金额"] == yuan(merchant["instruction"]["amount_fen"])
        net = next(row for row in rows if row["category 类别"] == "net")
        assert net["final_yuan 最终金额"] == yuan(merchant["net"]["final_fen"])
