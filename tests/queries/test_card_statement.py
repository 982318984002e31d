"""`jifen card statement` over a journal made by terminals over TCP: the lines of the card and
range only, running balances that end at the accounts' balances, an opening balance summed
from the postings before the range, CSV with a BOM that parses, the card masked."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from back_office.queries.statement_render import CSV_COLUMNS
from tests.e2e.system import CARDS, SECOND_CARDS
from tests.queries.conftest import Journal

MASKED = CARDS[0][:6] + "******" + CARDS[0][-4:]


def statement(jifen, *argv: str, output_format: str = "json") -> str:
    run = jifen("card", "statement", "--pan", CARDS[0], "--format", output_format, *argv)
    assert run.exit_code == 0, run.err
    return run.out


def balances_in_database(sql_rows) -> tuple[int, int]:
    by_kind = {row["kind"]: row["balance"] for row in sql_rows}
    return by_kind["member_points"], by_kind["member_stored_value"]


async def card_balances(database_url: str, pan: str) -> tuple[int, int]:
    import asyncpg

    from tests.keys_kit import lookup_hash

    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT a.kind, a.balance FROM accounts a JOIN cards c ON c.id = a.card_id "
            "WHERE c.pan_hmac = $1", await lookup_hash(connection, pan))
    finally:
        await connection.close()
    return balances_in_database(rows)


def test_lines_and_running_balances_end_at_the_accounts(
    jifen, journal: Journal, database_url, run_async,
) -> None:
    day = str(journal.business_date)
    result = json.loads(statement(jifen, "--from", day, "--to", day))
    assert result["pan_masked"] == MASKED
    assert (result["opening_points"], result["opening_stored_value_fen"]) == (0, 0)
    assert [(line["kind"], line["points"], line["points_balance"], line["stored_value_fen"],
             line["stored_value_balance_fen"]) for line in result["lines"]] == [
        ("stored_value_load", 0, 0, 10_000, 10_000),
        ("stored_value_purchase", 60, 60, -6_000, 4_000),
        ("purchase", 123, 183, 0, 4_000),
        ("redemption", -50, 133, 0, 4_000),
    ]
    closing = (result["closing_points"], result["closing_stored_value_fen"])
    assert closing == (133, 4_000) == run_async(card_balances, database_url, CARDS[0])
    assert all(isinstance(line["points_balance"], int) for line in result["lines"])


def test_opening_balance_from_the_postings_before_the_range(jifen, journal: Journal) -> None:
    after = str(journal.business_date + timedelta(days=1))
    result = json.loads(statement(jifen, "--from", after, "--to", after))
    assert result["lines"] == []
    assert (result["opening_points"], result["opening_stored_value_fen"]) == (133, 4_000)
    assert (result["closing_points"], result["closing_stored_value_fen"]) == (133, 4_000)
    before = str(journal.business_date - timedelta(days=1))
    result = json.loads(statement(jifen, "--from", before, "--to", before))
    assert result["lines"] == [] and result["closing_points"] == 0


def test_only_the_cards_lines(jifen, journal: Journal) -> None:
    day = str(journal.business_date)
    run = jifen("card", "statement", "--pan", SECOND_CARDS[0], "--from", day, "--to", day,
                "--format", "json")
    result = json.loads(run.out)
    assert [(line["kind"], line["points_balance"]) for line in result["lines"]] == [
        ("purchase", 30)]


def test_csv_has_a_bom_and_parses(jifen, journal: Journal, tmp_path) -> None:
    day = str(journal.business_date)
    out = tmp_path / "statement.csv"
    run = jifen("card", "statement", "--pan", CARDS[0], "--from", day, "--to", day,
                "--format", "csv", "--out", str(out))
    assert run.exit_code == 0, run.err
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [row["kind"] for row in rows] == ["opening", "stored_value_load",
                                             "stored_value_purchase", "purchase",
                                             "redemption", "closing"]
    assert {row["card"] for row in rows} == {MASKED}
    assert (int(rows[-1]["points_balance"]), int(rows[-1]["stored_value_balance_fen"])) == (
        133, 4_000)
    assert sum(int(row["points"]) for row in rows[1:-1]) == int(rows[-1]["points"]) == 133
    assert CARDS[0].encode() not in raw
    assert statement(jifen, "--from", day, "--to", day, output_format="csv").startswith(
        "\ufeff")


def test_table_masks_the_card(jifen, journal: Journal) -> None:
    day = str(journal.business_date)
    out = statement(jifen, "--from", day, "--to", day, output_format="table")
    assert MASKED in out and CARDS[0] not in out
    assert "closing" in out and "133" in out and "4000" in out


def test_refusals(jifen, journal: Journal) -> None:
    day = journal.business_date
    run = jifen("card", "statement", "--pan", CARDS[0], "--from", str(day),
                "--to", str(day - timedelta(days=1)))
    assert run.exit_code == 2 and "--from is after --to" in run.err
    run = jifen("card", "statement", "--pan", "6221880000000999", "--from", str(day),
                "--to", str(day))
    assert run.exit_code == 2 and "no card 622188******0999" in run.err
    assert "6221880000000999" not in run.err
    run = jifen("card", "statement", "--pan", "12ab", "--from", str(day), "--to", str(day))
    assert run.exit_code == 2 and "12ab" not in run.err
