"""`jifen import purchases`: a merchant's file posted by the running account host as the
merchant's advices, once per line id for ever; what the report says of each line, and what
the journal holds (SQL). The e2e conftest runs `jifen audit` after each test."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import asyncpg
import pytest

from account_host.commands import outcomes
from proto.business_date import business_date
from proto.pan import mask_pan
from proto.purchase_imports import virtual_terminal_code
from tests.e2e.cli_output import json_document
from tests.e2e.system import (
    CARDS,
    LOST_CARD,
    MERCHANT,
    OTHER_MERCHANT,
    UNISSUED_CARD,
    running_system,
    seed,
)
from tests.operators.conftest import as_operator, operator_of, sql_as
from tests.provisioning.conftest import jifen

pytestmark = pytest.mark.anyio

__all__ = ["as_operator", "jifen", "operator_of", "sql_as"]  # the fixtures, for these tests

_SHANGHAI = ZoneInfo("Asia/Shanghai")
_JOURNAL_SQL = """
SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM journal_entries),
       (SELECT coalesce(sum(amount), 0) FROM postings), (SELECT count(*) FROM host_commands)
"""


def _today() -> date:
    """The alliance's open date by the clock (Asia/Shanghai, cutover 23:00: the seed's)."""
    return business_date(datetime.now(UTC), _SHANGHAI, datetime.min.time().replace(hour=23))


async def _import(jifen, *argv: str):
    return await anyio.to_thread.run_sync(lambda: jifen("import", "purchases", *argv))


def _file(path: Path, rows: list[str], header: str) -> str:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return str(path)


class TestImport:
    async def test_good_bad_and_duplicate_lines_then_the_same_file_posts_nothing(
        self, jifen, database_url, tmp_path,
    ) -> None:
        today, yesterday = _today(), _today() - timedelta(days=1)
        future = today + timedelta(days=2)
        csv_path = _file(tmp_path / "december.csv", [
            f"A1,{CARDS[0]},123.45,{today},Shop 3,R-1",       # 123 points (1 a yuan)
            f"A2,{CARDS[1]},10,{yesterday},,",                # 10 points, on yesterday
            f"A3,{CARDS[0]},0.00,{today},,",                  # an amount of 0
            f"A4,1234567890123456,1,{today},,",               # fails Luhn
            f"A5,{UNISSUED_CARD},1,{today},,",                # not issued: 14
            f"A6,{LOST_CARD},5,{today},,",                    # the host's 41
            f"A1,{CARDS[2]},1,{today},,",                     # line id twice in the file
            f"A7,{CARDS[3]},1.234,{today},,",                 # 3 decimals
            f"A8,{CARDS[3]},1,{future},,",                    # in the future
            f"A9,{CARDS[3]},1,2026-13-01,,",                  # not a date
            f"B1,{CARDS[3]},7,{today},收银台,小票 88",          # Chinese text kept
        ], "line_id,pan,amount_yuan,business_date,shop,receipt")
        report_path = tmp_path / "report.csv"
        async with running_system(database_url) as system:
            run = await _import(jifen, "--merchant", MERCHANT, csv_path, "--json",
                                "--report", str(report_path))
            assert run.exit_code == 0, run.err
            assert run.err == ""   # no progress bar without a terminal
            first = json_document(run.out)
            journal = await system.fetch(_JOURNAL_SQL)

            again = await _import(jifen, "--merchant", MERCHANT, csv_path, "--json")
            assert again.exit_code == 0, again.err
            second = json_document(again.out)
            assert await system.fetch(_JOURNAL_SQL) == journal, "the second import posted"

            merchant_id = await system.fetchval(
                "SELECT id FROM merchants WHERE merchant_code = $1", MERCHANT)
            posted = await system.fetch(
                "SELECT t.kind, t.terminal_code, t.mti, t.amount, t.points, t.business_date,"
                " t.batch_number, h.import_line_id FROM transactions t"
                " JOIN host_commands h ON h.id = t.command_id ORDER BY h.import_line_id")

        assert (first["posted"], first["duplicate"], first["rejected"], first["pending"]) \
            == (3, 0, 8, 0)
        assert first["points"] == 123 + 10 + 7
        lines = {(line["line_number"], line["line_id"]): line for line in first["lines"]}
        assert [line["line_number"] for line in first["lines"]] == list(range(2, 13))
        assert (lines[2, "A1"]["outcome"], lines[2, "A1"]["result_code"]) == ("posted", "00")
        assert lines[2, "A1"]["reason"] == f"+123 points on {today}"
        assert lines[3, "A2"]["reason"] == f"+10 points on {yesterday}"
        assert lines[4, "A3"]["reason"] == "an amount of 0"
        assert "Luhn" in lines[5, "A4"]["reason"]
        assert (lines[6, "A5"]["result_code"], lines[6, "A5"]["reason"]) == (
            "14", f"no card {mask_pan(UNISSUED_CARD)} is issued in the merchant's alliance")
        assert (lines[7, "A6"]["outcome"], lines[7, "A6"]["result_code"]) == ("rejected", "41")
        assert lines[8, "A1"]["reason"] == "line id A1 is also on line 2"
        assert "at most 2 decimals" in lines[9, "A7"]["reason"]
        assert lines[10, "A8"]["reason"] == f"business date {future} is after today's ({today})"
        assert "not a date" in lines[11, "A9"]["reason"]
        assert lines[12, "B1"]["outcome"] == "posted"

        assert (second["posted"], second["duplicate"], second["rejected"]) == (0, 4, 7)
        duplicates = {line["line_id"]: line for line in second["lines"]
                      if line["outcome"] == "duplicate"}
        assert sorted(duplicates) == ["A1", "A2", "A6", "B1"]
        assert duplicates["A6"]["result_code"] == "41"   # refused the first time: kept so
        assert "command" in duplicates["A1"]["reason"]

        terminal = virtual_terminal_code(merchant_id)
        assert [tuple(row) for row in posted] == [
            ("offline_purchase", terminal, "0220", 12345, 123, today, first["run_id"], "A1"),
            ("offline_purchase", terminal, "0220", 1000, 10, yesterday, first["run_id"], "A2"),
            ("offline_purchase", terminal, "0220", 700, 7, today, first["run_id"], "B1")]

        report_bytes = report_path.read_bytes()
        assert report_bytes.startswith(b"\xef\xbb\xbf")
        report_rows = report_bytes.decode("utf-8-sig").splitlines()
        assert report_rows[0].startswith("line_number,line_id,card,")
        assert len(report_rows) == 1 + 11
        assert CARDS[0] not in report_bytes.decode("utf-8-sig")   # masked

    async def test_a_sealed_date_posts_on_the_open_date_at_the_merchants_rate(
        self, jifen, database_url, tmp_path,
    ) -> None:
        today, yesterday = _today(), _today() - timedelta(days=1)
        header = "line_id,pan,amount_fen,time"
        async with running_system(database_url) as system:
            sealed = await anyio.to_thread.run_sync(lambda: jifen(
                "clearing", "close-day", "--alliance", "TEST", "--date", str(yesterday)))
            assert sealed.exit_code == 0, sealed.err
            # The seal's notification reaches the host before the commands' (commit order).
            path = _file(tmp_path / "late.csv",
                         [f"L1,{CARDS[4]},10000,{yesterday} 12:00:00"], header)
            run = await _import(jifen, "--merchant", OTHER_MERCHANT, path, "--json")
            assert run.exit_code == 0, run.err
            line = json_document(run.out)["lines"][0]
            row = await system.fetch(
                "SELECT t.business_date, t.points, e.business_date FROM transactions t"
                " JOIN journal_entries e ON e.transaction_id = t.id"
                " JOIN host_commands h ON h.id = t.command_id WHERE h.import_line_id = 'L1'")
        # The bookshop earns 2 points a yuan: 100 yuan, 200 points, on the open date.
        assert line["reason"] == f"+200 points on {today} (date {yesterday} sealed)"
        assert [tuple(r) for r in row] == [(today, 200, today)]

    async def test_the_virtual_terminal_never_signs_on(self, jifen, database_url, tmp_path):
        path = _file(tmp_path / "one.csv", [f"V1,{CARDS[5]},100,{_today()}"],
                     "line_id,pan,amount_fen,business_date")
        async with running_system(database_url) as system:
            run = await _import(jifen, "--merchant", MERCHANT, path)
            assert run.exit_code == 0, run.err
            assert "posted 1 (1 points)" in run.out
            merchant_id = await system.fetchval(
                "SELECT id FROM merchants WHERE merchant_code = $1", MERCHANT)
            async with system.terminal(virtual_terminal_code(merchant_id)) as terminal:
                assert (await terminal.sign_on())["39"] == "58"

    async def test_lines_left_pending_by_a_stopped_host_are_posted_when_it_starts(
        self, jifen, database_url, tmp_path,
    ) -> None:
        await seed(database_url)
        path = _file(tmp_path / "later.csv", [f"P1,{CARDS[7]},300,{_today()}"],
                     "line_id,pan,amount_fen,business_date")
        waited = await _import(jifen, "--merchant", MERCHANT, path, "--json", "--wait-s", "0.5")
        assert waited.exit_code == 1, waited.err
        assert json_document(waited.out)["pending"] == 1
        async with running_system(database_url, seeded=False):
            with anyio.fail_after(10):
                while True:
                    again = await _import(jifen, "--merchant", MERCHANT, path, "--json")
                    line = json_document(again.out)["lines"][0]
                    assert (again.exit_code, line["outcome"]) == (0, "duplicate")
                    if line["result_code"] == "00":
                        break
                    await anyio.sleep(0.1)
        assert line["reason"].endswith(", done")

    async def test_the_host_queues_a_few_at_a_time_and_reads_the_rest_later(
        self, jifen, database_url, tmp_path, monkeypatch,
    ) -> None:
        """With room for 3 queued commands, 25 lines still all post: the listener reads the
        rest as the writer answers."""
        monkeypatch.setattr(outcomes, "QUEUED_COMMANDS_MAX", 3)
        rows = [f"Q{n},{CARDS[n % 4]},{100 + n},{_today()}" for n in range(25)]
        path = _file(tmp_path / "many.csv", rows, "line_id,pan,amount_fen,business_date")
        async with running_system(database_url) as system:
            run = await _import(jifen, "--merchant", MERCHANT, path, "--json")
            assert run.exit_code == 0, run.err
            assert json_document(run.out)["posted"] == 25
            assert await system.fetchval(
                "SELECT count(*) FROM transactions t JOIN host_commands h"
                " ON h.id = t.command_id WHERE h.kind = 'imported_purchase'") == 25

    async def test_a_file_without_its_columns_is_refused_whole(
        self, jifen, database_url, tmp_path,
    ) -> None:
        await seed(database_url)
        path = _file(tmp_path / "bad.csv", [f"X1,{CARDS[0]},1"], "line_id,pan,amount")
        run = await _import(jifen, "--merchant", MERCHANT, path)
        assert run.exit_code == 2
        assert run.err.startswith("jifen: error: unknown columns amount")


class TestOperators:
    async def test_hq_and_the_merchants_own_admin_import_and_the_audit_trail_has_each_run(
        self, jifen, operator_of, as_operator, database_url, tmp_path,
    ) -> None:
        header = "line_id,pan,amount_fen,business_date"
        path = _file(tmp_path / "hq.csv", [f"H1,{CARDS[6]},250,{_today()}",
                                           f"H2,{CARDS[6]},x,{_today()}"], header)
        own = _file(tmp_path / "own.csv", [f"M1,{CARDS[6]},500,{_today()}"], header)
        async with running_system(database_url) as system:
            hq = await anyio.to_thread.run_sync(lambda: operator_of("hq_admin"))
            admin = await anyio.to_thread.run_sync(
                lambda: operator_of("merchant_admin", MERCHANT))
            run = await anyio.to_thread.run_sync(lambda: as_operator(
                hq, "import", "purchases", "--merchant", MERCHANT, path, "--json"))
            assert run.exit_code == 0, run.err
            report = json_document(run.out)
            mine = await anyio.to_thread.run_sync(lambda: as_operator(
                admin, "import", "purchases", "--merchant", MERCHANT, own, "--json"))
            assert mine.exit_code == 0, mine.err
            other = await anyio.to_thread.run_sync(lambda: as_operator(
                admin, "import", "purchases", "--merchant", OTHER_MERCHANT, own))
            audit = await system.fetch(
                "SELECT actor, action, object_key, after FROM audit_log"
                " WHERE action = 'purchase_import.run' ORDER BY id")
            kept = await system.fetch(
                "SELECT r.started_by, r.posted, r.rejected, count(l.*) AS lines"
                " FROM purchase_import_runs r JOIN purchase_import_lines l ON l.run_id = r.id"
                " GROUP BY r.id ORDER BY r.id")
        assert (report["posted"], report["rejected"]) == (1, 1)
        assert json_document(mine.out)["posted"] == 1
        # Row-level security hides the other merchant: to this admin it does not exist.
        assert other.exit_code == 2 and f"no merchant {OTHER_MERCHANT}" in other.err
        assert [(row["actor"], row["object_key"]) for row in audit] == [
            (hq.name, MERCHANT), (admin.name, MERCHANT)]
        after = json.loads(audit[0]["after"])
        assert (after["lines"], after["posted"], after["rejected"], after["points"]) == (
            2, 1, 1, 2)
        assert [tuple(row) for row in kept] == [(hq.name, 1, 1, 2), (admin.name, 1, 0, 1)]

    async def test_a_merchant_admin_cannot_import_for_another_merchant_over_sql(
        self, jifen, operator_of, sql_as, database_url,
    ) -> None:
        """The functions are the guarantee, for whoever connects with psql."""
        await seed(database_url)
        admin = await anyio.to_thread.run_sync(lambda: operator_of("merchant_admin", MERCHANT))
        other_id = await _merchant_id(database_url, OTHER_MERCHANT)
        own_id = await _merchant_id(database_url, MERCHANT)
        for statement in (
                f"SELECT purchase_import_start({other_id}, 'x.csv', '\\x{'00' * 32}', 1)",
                f"SELECT * FROM purchase_import_outcomes({other_id}, ARRAY[1]::bigint[])",
                "INSERT INTO host_commands (kind, payload, card_id) VALUES"
                " ('join_bonus', '{}', 1)",
                "INSERT INTO purchase_import_runs (merchant_id, file_name, file_sha256, lines)"
                f" VALUES ({own_id}, 'x', '\\x00', 1)"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await anyio.to_thread.run_sync(lambda s=statement: sql_as(admin.url, s))
        run_id = await anyio.to_thread.run_sync(lambda: sql_as(
            admin.url, f"SELECT purchase_import_start({own_id}, 'x.csv',"
                       f" '\\x{'00' * 32}', 1)"))
        assert run_id[0][0] > 0


async def _merchant_id(database_url: str, code: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        merchant_id = await connection.fetchval(
            "SELECT id FROM merchants WHERE merchant_code = $1", code)
    finally:
        await connection.close()
    assert isinstance(merchant_id, int)
    return merchant_id
