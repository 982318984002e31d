"""`jifen txn find` over a journal made by terminals over TCP: each filter narrows to exactly
the rows it names, paging lists every row once, declines come from host_requests, and no card
number appears in clear."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.e2e.system import (
    CARDS,
    MERCHANT,
    SECOND_ALLIANCE_TERMINAL,
    SECOND_CARDS,
    SECOND_MERCHANT,
    SECOND_TERMINAL,
    TERMINAL,
)
from tests.keys_kit import give_cards_a_member
from tests.queries.conftest import Journal


def find(jifen, *argv: str) -> dict:
    run = jifen("txn", "find", "--json", *argv)
    assert run.exit_code == 0, run.err
    return json.loads(run.out)


def kinds(page: dict) -> list[str]:
    return [row["kind"] for row in page["rows"]]


def test_by_card_merchant_terminal_and_rrn(jifen, journal: Journal) -> None:
    everything = find(jifen)
    assert len(everything["rows"]) == journal.transactions == 6
    assert everything["next_cursor"] is None
    assert all(row["response_code"] == "00" for row in everything["rows"])

    by_card = find(jifen, "--pan", CARDS[0])
    # Newest first.
    assert kinds(by_card) == ["redemption", "purchase", "stored_value_purchase",
                              "stored_value_load"]
    assert {row["pan_masked"] for row in by_card["rows"]} == {CARDS[0][:6] + "******"
                                                              + CARDS[0][-4:]}
    assert kinds(find(jifen, "--pan", SECOND_CARDS[0])) == ["purchase"]

    by_merchant = find(jifen, "--merchant", SECOND_MERCHANT)
    assert [row["terminal_code"] for row in by_merchant["rows"]] == [SECOND_ALLIANCE_TERMINAL]
    assert len(find(jifen, "--merchant", MERCHANT)["rows"]) == 5

    by_terminal = find(jifen, "--terminal", SECOND_TERMINAL)
    assert [(row["kind"], row["amount"], row["points"]) for row in by_terminal["rows"]] == [
        ("purchase", 5_000, 50)]
    assert len(find(jifen, "--terminal", TERMINAL)["rows"]) == 4

    by_rrn = find(jifen, "--rrn", journal.purchase_rrn)
    assert [(row["rrn"], row["amount"], row["points"]) for row in by_rrn["rows"]] == [
        (journal.purchase_rrn, 12_345, 123)]

    both = find(jifen, "--pan", CARDS[0], "--terminal", SECOND_TERMINAL)
    assert both["rows"] == []


def test_by_business_date_and_time(jifen, journal: Journal) -> None:
    day = journal.business_date
    assert len(find(jifen, "--from", str(day), "--to", str(day))["rows"]) == 6
    assert find(jifen, "--from", str(day + timedelta(days=1)))["rows"] == []
    assert find(jifen, "--to", str(day - timedelta(days=1)))["rows"] == []
    rows = find(jifen)["rows"]
    newest = max(row["posted_at"] for row in rows)
    oldest = min(row["posted_at"] for row in rows)
    assert len(find(jifen, "--since", oldest)["rows"]) == 6
    assert find(jifen, "--until", oldest)["rows"] == []
    after_newest = find(jifen, "--since", newest)["rows"]
    assert after_newest and all(row["posted_at"] == newest for row in after_newest)


@pytest.mark.parametrize("limit", [1, 2, 4])
@pytest.mark.parametrize("order", [(), ("--since", "2000-01-01T00:00:00Z")],
                         ids=["by-business-date", "by-time"])
def test_paging_lists_every_row_once(jifen, journal: Journal, limit: int,
                                     order: tuple[str, ...]) -> None:
    seen: list[int] = []
    after: list[str] = []
    for _ in range(journal.transactions + 1):
        page = find(jifen, "--limit", str(limit), *order, *after)
        assert len(page["rows"]) <= limit
        seen += [row["transaction_id"] for row in page["rows"]]
        if page["next_cursor"] is None:
            break
        after = ["--after", page["next_cursor"]]
    assert len(seen) == len(set(seen)) == journal.transactions
    table = jifen("txn", "find", "--limit", "2")
    assert table.exit_code == 0 and "more: --after " in table.out


def test_declines_by_response_code(jifen, journal: Journal) -> None:
    declined = find(jifen, "--response-code", "51")
    assert [(row["terminal_code"], row["mti"], row["merchant_code"], row["response_code"])
            for row in declined["rows"]] == [(journal.declined_terminal, "0200", MERCHANT,
                                              "51")]
    assert find(jifen, "--declined")["rows"] == declined["rows"]
    assert find(jifen, "--declined", "--terminal", SECOND_TERMINAL)["rows"] == []
    assert find(jifen, "--response-code", "05")["rows"] == []
    assert len(find(jifen, "--response-code", "00")["rows"]) == journal.transactions
    # The host keeps no card of a declined request: said, not silently ignored.
    refused = jifen("txn", "find", "--declined", "--pan", CARDS[0])
    assert refused.exit_code == 2 and "--pan does not apply to declined requests" in refused.err


def test_no_card_number_in_clear(jifen, journal: Journal) -> None:
    for argv in (("--pan", CARDS[0]), ("--pan", CARDS[0], "--json"), ()):
        run = jifen("txn", "find", *argv)
        assert run.exit_code == 0, run.err
        assert all(pan not in run.out + run.err for pan in (*CARDS, *SECOND_CARDS))
        assert CARDS[0][:6] + "******" + CARDS[0][-4:] in run.out
    unknown = jifen("txn", "find", "--pan", "6221880000000999")
    assert unknown.exit_code == 2 and "no card 622188******0999 is issued" in unknown.err
    assert "6221880000000999" not in unknown.err


def test_refusals(jifen, journal: Journal) -> None:
    assert "no merchant NOPE" in jifen("txn", "find", "--merchant", "NOPE").err
    assert "no terminal NOPE0001" in jifen("txn", "find", "--terminal", "NOPE0001").err
    assert "--limit is 1 to 1000" in jifen("txn", "find", "--limit", "0").err
    bad = jifen("txn", "find", "--after", "not-a-cursor")
    assert bad.exit_code == 2 and "the cursor is not one this query printed" in bad.err
    declines_cursor = find(jifen, "--declined", "--limit", "1")
    assert declines_cursor["next_cursor"] is None
    transactions_cursor = find(jifen, "--limit", "1")["next_cursor"]
    mixed = jifen("txn", "find", "--declined", "--after", transactions_cursor)
    assert mixed.exit_code == 2 and "the cursor is not one" in mixed.err


def test_by_member_every_card_of_theirs(jifen, journal: Journal, database_url, run_async) -> None:
    """A member's cards (assigned as card service does) narrow like --pan does, together."""
    import asyncpg

    async def give_cards() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            await give_cards_a_member(connection, CARDS[:2])
        finally:
            await connection.close()

    run_async(give_cards)
    by_member = find(jifen, "--member", "1")
    by_cards = find(jifen, "--pan", CARDS[0])["rows"] + find(jifen, "--pan", CARDS[1])["rows"]
    assert sorted(row["rrn"] for row in by_member["rows"]) == sorted(
        row["rrn"] for row in by_cards)
    refused = jifen("txn", "find", "--member", "99")
    assert refused.exit_code == 2 and "has no card" in refused.err
