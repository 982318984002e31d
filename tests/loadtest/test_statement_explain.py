"""The commit bench's --explain: the tables a statement's plan writes, found at any depth of
its CTEs, and the table of medians it prints."""

from __future__ import annotations

from loadtest.statement_explain import _modified_tables, render_explained

PLAN = {"Node Type": "Result", "Plans": [
    {"Node Type": "ModifyTable", "Relation Name": "accounts", "Actual Total Time": 1.5,
     "Plans": [{"Node Type": "Function Scan"}]},
    {"Node Type": "Aggregate", "Plans": [
        {"Node Type": "ModifyTable", "Relation Name": "postings", "Actual Total Time": 0.25}]},
]}


def test_every_written_table_is_found_with_its_time() -> None:
    assert _modified_tables(PLAN) == [("accounts", 1.5), ("postings", 0.25)]


def test_the_medians_slowest_first_without_tables_nothing_wrote() -> None:
    text = render_explained({"postings": [2.0, 4.0, 3.0], "accounts": [9.0],
                             "gift_catalogue": [0.1]})
    rows = [line for line in text.splitlines() if line.startswith("| ") and "µs" not in line]
    assert rows == ["| accounts | 9.0 | 1 |", "| postings | 3.0 | 3 |"]
