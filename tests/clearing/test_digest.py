"""`jifen report daily` (docs/reports.md): every figure of the digest equals what SQL of its
own finds in the journal; the liability equals `jifen audit`'s figure from the members' side
of the ledger and each date's flows add up to the next date's liability; the trend's series
are the daily figures; the CSV has its byte order mark, the PNG is a real chart; the nightly
writes the digest beside its reports."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest

from clearing.digest import DailyDigest
from clearing.digest.chart import FLOW_SERIES, LIABILITY_SERIES, chart_series
from database.roles import Role
from jifen.cli import main
from tests.clearing.digest_kit import (
    DATES,
    ISSUE_PRICE_FEN,
    LAST,
    TREND_DAYS,
    active_members,
    expected_flows,
    members_points,
    write_days,
)
from tests.clearing.synthetic import ALLIANCE
from tests.partition_day import write_config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def days(database_url: str, run_async: Callable[..., object]) -> None:
    run_async(write_days, database_url)


@pytest.fixture
def clearing_config(
    days: None, database_url: str, tmp_path: Path, role_url: Callable[[Role], str],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A configuration whose clearing logs in as jifen_clearing: its grants only."""
    monkeypatch.delenv("JIFEN_DATABASE_URL", raising=False)
    return write_config(tmp_path / "clearing.toml", database_url, {}, {
        "database": {"clearing_url": role_url(Role.CLEARING)}})


@pytest.fixture
def digest_of(
    clearing_config: Path, capsys: pytest.CaptureFixture[str],
) -> Callable[..., tuple[int, str, str]]:
    """`digest_of(day, *more)`: `jifen report daily` of SYN as jifen_clearing, exit code,
    out and err."""
    config = clearing_config

    def run(day: object, *more: str, alliance: str = ALLIANCE) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--config", str(config), "report", "daily", "--alliance", alliance,
                     "--date", str(day), *more])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _json(run: Callable[..., tuple[int, str, str]], day: object, *more: str) -> dict:
    code, out, err = run(day, "--json", *more)
    assert code == 0, err
    return json.loads(out)


def _half_up(points: int, price: str) -> int:
    return int((points * Decimal(price)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_every_figure_equals_the_journal(digest_of, database_url, run_async):
    for day in DATES:
        digest = _json(digest_of, day)
        assert digest["business_date"] == str(day)
        assert digest["flows"] == run_async(expected_flows, database_url, day)
        points = run_async(members_points, database_url, day)
        liability = digest["liability"]
        assert Decimal(liability.pop("issue_price_fen")) == Decimal(ISSUE_PRICE_FEN)
        assert liability == {"points": points, "amount_fen": _half_up(points, ISSUE_PRICE_FEN)}
        assert digest["members_active"] == run_async(active_members, database_url, day)
    last = _json(digest_of, LAST)
    # Known figures of the traffic (digest_kit), so that the comparisons above are not of
    # zeros: member 0 (cards 0 and 1) and member 1 (card 2) bought on LAST; card 3 is
    # nobody's. One member was created within LAST; one the day before, one at its cutover.
    assert (last["members_active"], last["members_new"]) == (2, 1)
    assert last["flows"]["points_expired"] == 150
    assert last["flows"]["stored_value_loaded_fen"] == 10_000
    assert last["liability"]["points"] > 0
    # The top merchants: by points issued, every merchant that moved anything.
    issued = [merchant["points_issued"] for merchant in last["top_merchants"]]
    assert issued == sorted(issued, reverse=True) and len(issued) == 3
    assert sum(issued) == last["flows"]["points_issued"]
    assert sum(m["stored_value_spent_fen"] for m in last["top_merchants"]) == \
        last["flows"]["stored_value_spent_fen"]
    # The terminals that did not reconcile (digest_kit): SYNTERM2's batch closed 95,
    # SYNTERM3's never closed; SYNTERM1's reconciled.
    assert [(b["terminal"], b["state"]) for b in last["terminal_batches"]] == [
        ("SYNTERM2", "out_of_balance"), ("SYNTERM3", "not_reconciled")]


def test_the_liability_equals_the_audits_and_moves_by_the_flows(digest_of, database_url,
                                                                 jifen):
    audited = jifen("audit")
    assert audited.exit_code == 0, audited.err
    [line] = [line for line in audited.out.splitlines() if line.startswith("points liability")]
    match = re.fullmatch(rf"points liability of {ALLIANCE}: (-?\d+) points .*", line)
    assert match is not None, line
    digests = [_json(digest_of, day) for day in DATES]
    assert digests[-1]["liability"]["points"] == int(match[1])
    # Each date's liability is the day before's plus what its entries moved.
    before = 0
    for digest in digests:
        flows = digest["flows"]
        change = (flows["points_issued"] + flows["points_given"] - flows["points_redeemed"]
                  - flows["points_exchanged"] - flows["points_expired"])
        assert digest["liability"]["points"] == before + change
        before = digest["liability"]["points"]


def test_the_trend_is_the_daily_figures_and_its_chart_a_png(digest_of, tmp_path):
    chart = tmp_path / "trend.png"
    digest = _json(digest_of, LAST, "--trend", str(TREND_DAYS), "--png", str(chart))
    trend = digest["trend"]
    assert [day["business_date"] for day in trend] == [
        str(LAST - timedelta(days=back)) for back in range(TREND_DAYS - 1, -1, -1)]
    dailies = [_json(digest_of, day["business_date"]) for day in trend]
    for day, daily in zip(trend, dailies, strict=True):
        assert day["flows"] == daily["flows"]
        assert day["liability_points"] == daily["liability"]["points"]
    assert trend[0]["liability_points"] == 0 and trend[-1]["flows"] == digest["flows"]
    # What the chart plots is each date's own digest.
    issued, redeemed, expired = FLOW_SERIES
    assert chart_series(msgspec.json.decode(json.dumps(digest), type=DailyDigest)) == {
        issued: [d["flows"]["points_issued"] + d["flows"]["points_given"] for d in dailies],
        redeemed: [d["flows"]["points_redeemed"] + d["flows"]["points_exchanged"]
                   for d in dailies],
        expired: [d["flows"]["points_expired"] for d in dailies],
        LIABILITY_SERIES: [d["liability"]["points"] for d in dailies]}
    assert any(dailies[-1]["flows"].values())
    content = chart.read_bytes()
    assert content.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", content[16:24])      # IHDR
    assert (width, height) == (1200, 800)
    assert 10_000 < len(content) < 1_000_000


def test_csv_for_spreadsheets_and_the_table(digest_of, tmp_path):
    sheet = tmp_path / "digest.csv"
    code, _, err = digest_of(LAST, "--csv", str(sheet), "--trend", "3")
    assert code == 0, err
    content = sheet.read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    assert (tmp_path / "digest.png").read_bytes().startswith(PNG_SIGNATURE)
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == ["section", "item", "label", "points", "count", "yuan", "detail"]
    assert {len(row) for row in rows} == {7}
    digest = _json(digest_of, LAST)
    by_key = {(row[0], row[1]): row for row in rows}
    liability = by_key["liability", "points"]
    assert int(liability[3]) == digest["liability"]["points"]
    fen = digest["liability"]["amount_fen"]
    assert liability[5] == f"{fen // 100}.{fen % 100:02d}"
    assert by_key["members", "active"][4] == "2"
    assert int(by_key["points", "points_issued"][3]) == digest["flows"]["points_issued"]
    assert len([row for row in rows if row[0] == "trend"]) == 3 * 4
    code, out, _ = digest_of(LAST)
    assert code == 0
    assert "积分负债 liability" in out and str(digest["liability"]["points"]) in out
    assert "终端对账 Terminals that did not reconcile" in out
    code, out, _ = digest_of(LAST, "--format", "csv")
    assert code == 0 and out.startswith("section,")         # no BOM on a terminal


def test_refusals(digest_of):
    code, _, err = digest_of(LAST, "--trend", "0", "--png", "x.png")
    assert code == 2 and "--trend 0: give 1 to 366 days" in err
    code, _, err = digest_of(LAST, "--trend", "3")
    assert code == 2 and "--png FILE" in err
    code, _, err = digest_of(LAST, "--png", "x.png")
    assert code == 2 and "add --trend" in err
    code, _, err = digest_of("2031-13-01")
    assert code == 1 and "bad date" in err
    code, _, err = digest_of(LAST, alliance="NOPE")
    assert code == 1 and "no alliance NOPE" in err


def test_the_nightly_writes_the_digest_beside_its_reports(digest_of, clearing_config,
                                                          tmp_path, capsys):
    capsys.readouterr()
    code = main(["--config", str(clearing_config), "clearing", "nightly", "--alliance",
                 ALLIANCE, "--date", str(LAST), "--out", str(tmp_path / "out"),
                 "--metrics-file", str(tmp_path / "clearing.prom")])
    assert code == 0, capsys.readouterr().err
    directory = tmp_path / "out" / ALLIANCE / str(LAST)
    assert {"report.json", "digest.txt", "digest.csv", "digest.json"} <= {
        path.name for path in directory.iterdir()}
    written = json.loads((directory / "digest.json").read_text())
    asked = _json(digest_of, LAST)
    del written["generated_at"], asked["generated_at"]
    assert written == asked
    sheet = (directory / "digest.csv").read_bytes()
    assert sheet.startswith(b"\xef\xbb\xbf")
    assert f"{asked['liability']['points']}" in sheet.decode("utf-8-sig")
    assert "积分负债" in (directory / "digest.txt").read_text()


_REVIEWS_SQL = """
INSERT INTO risk_reviews (alliance_id, card_id, merchant_id, kind, level, status,
                          business_date, raised_at, detail, decided_by, decided_at)
SELECT a.id, NULL, m.id, 'merchant_points_growth', r.level, r.status, DATE '2026-12-01',
       r.raised_at, '{}'::jsonb, CASE WHEN r.status <> 'open' THEN 'checker' END,
       CASE WHEN r.status <> 'open' THEN r.raised_at + interval '1 hour' END
FROM alliances a JOIN merchants m ON m.alliance_id = a.id
CROSS JOIN (VALUES ('block', 'open', TIMESTAMPTZ '2026-12-01 02:00Z'),
                   ('block', 'open', TIMESTAMPTZ '2026-12-01 01:30Z'),
                   ('warning', 'open', TIMESTAMPTZ '2026-12-01 03:00Z'),
                   ('block', 'released', TIMESTAMPTZ '2026-11-30 01:00Z'))
     AS r(level, status, raised_at)
WHERE a.code = $1 AND m.id = (SELECT min(id) FROM merchants WHERE alliance_id = a.id)
"""


def test_the_risk_queue_counts_the_open_reviews(digest_of, database_url, run_async):
    empty = _json(digest_of, LAST)["risk_queue"]
    assert empty == {"open_warnings": 0, "open_blocks": 0, "oldest_open_at": None}
    run_async(_execute, database_url, _REVIEWS_SQL, ALLIANCE)
    queue = _json(digest_of, LAST)["risk_queue"]
    assert queue == {"open_warnings": 1, "open_blocks": 2,
                     "oldest_open_at": "2026-12-01T01:30:00Z"}
    code, out, err = digest_of(LAST)
    assert code == 0, err
    assert "blocks 2, warnings 1; oldest raised 2026-12-01 01:30 UTC" in out


async def _execute(url: str, sql: str, *args: object) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql, *args)
    finally:
        await connection.close()
