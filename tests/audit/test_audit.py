"""`jifen audit`: a sound database passes, and each broken invariant, injected by SQL into a
fresh database, is named with the ids of its rows."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.audit.conftest import Run
from tests.keys_kit import insert_cards

REPLICA = "SET LOCAL session_replication_role = replica"  # no foreign key triggers


def insert_transaction(
    transaction_id: int, kind: str, *, amount: int = 100, original: int | None = None,
    mti: str = "0200", stan: str | None = None, transmission_time: str | None = None,
    posted_minutes: int | None = None, terminal_code: str = "AUDTERM1",
) -> str:
    """A transaction row without entries, by default with a key of its own."""
    stan = stan or f"{transaction_id:06d}"
    transmission_time = transmission_time or f"03011{transaction_id:05d}"
    minutes = transaction_id if posted_minutes is None else posted_minutes
    return f"""
        INSERT INTO transactions (id, kind, business_date, posted_at, terminal_code,
                                  merchant_id, card_id, batch_number, mti, stan,
                                  transmission_time, amount, currency, points,
                                  original_transaction_id)
        VALUES ({transaction_id}, '{kind}', '2025-03-01',
                timestamptz '2025-03-01 10:00:00+00' + {minutes} * interval '1 min',
                '{terminal_code}', (SELECT id FROM merchants), (SELECT id FROM cards), 1,
                '{mti}',
                '{stan}', '{transmission_time}', {amount}, '156', 0,
                {'NULL' if original is None else original})
    """


def violations(run: Run) -> dict[str, list[dict]]:
    """check name -> the ids of each listed violation, from `jifen audit --json`."""
    report = json.loads(run.out)
    return {check["name"]: [violation["ids"] for violation in check["violations"]]
            for check in report["checks"] if check["violation_count"]}


class TestClean:
    def test_an_empty_database_passes(self, audit, database_url):
        run = audit()
        assert run.exit_code == 0, run.err
        assert run.out.startswith("audit clean: 19 checks over 0 transactions, 0 entries")

    def test_a_sound_journal_passes_with_a_summary(self, audit, ledger_url):
        run = audit()
        assert run.exit_code == 0, run.err
        assert "audit clean: 19 checks over 5 transactions, 6 entries, 12 postings and " \
               "5 accounts in" in run.out
        assert run.err == ""

    def test_json_report(self, audit, ledger_url):
        run = audit("--json")
        assert run.exit_code == 0
        report = json.loads(run.out)
        assert (report["clean"], report["violation_count"]) == (True, 0)
        assert report["counts"] == {"transactions": 5, "entries": 6, "postings": 12,
                                    "accounts": 5}
        assert [check["name"] for check in report["checks"]] == [
            "entry_unbalanced", "posting_wrong_ledger", "reference_missing", "balance_mismatch",
            "stored_value_negative", "original_missing", "reversed_more_than_once",
            "returns_exceed_original", "idempotency_key_reused", "terminal_mismatch",
            "command_mismatch", "join_bonus_twice", "referral_bonus_twice",
            "referral_credit_twice", "gift_redemption_mismatch", "gift_stock_mismatch",
            "lots_beyond_balance", "expiry_not_its_moves", "standing_row_stale"]

    def test_a_reversed_return_gives_its_amount_back(self, audit, ledger_url, sql):
        # 400 (reversed) + 700 exceeds the purchase's 1000 only if the reversed one counted.
        sql(insert_transaction(6, "return", amount=700, original=1))
        assert audit().exit_code == 0

    def test_a_key_reused_after_the_window_is_a_new_request(self, audit, ledger_url, sql):
        # Field 7 has no year: the same key 8 days later is a new request, not a duplicate.
        sql(insert_transaction(6, "purchase", stan="000001", transmission_time="0301100100",
                               posted_minutes=1 + 8 * 24 * 60))
        assert audit().exit_code == 0


# (name, SQL that breaks the journal, the check expected, the ids of its violations)
VIOLATIONS = [
    ("unbalanced entry", [
        "UPDATE postings SET amount = 11 WHERE entry_id = 1 AND account_id = 1",
        "UPDATE accounts SET balance = 31 WHERE id = 1",
    ], "entry_unbalanced", [{"entry_id": 1, "transaction_id": 1}]),
    ("balance off its postings", [
        "UPDATE accounts SET balance = 29 WHERE id = 1",
    ], "balance_mismatch", [{"account_id": 1}]),
    ("negative stored value", [
        "UPDATE postings SET amount = 1000 WHERE entry_id = 2 AND account_id = 3",
        "UPDATE postings SET amount = -1000 WHERE entry_id = 2 AND account_id = 4",
        "UPDATE accounts SET balance = -1000 WHERE id IN (3, 4)",
    ], "stored_value_negative", [{"account_id": 3, "card_id": 1}]),
    ("posting in the other ledger", [
        "UPDATE journal_entries SET ledger = 'money' WHERE id = 1",
    ], "posting_wrong_ledger", [{"entry_id": 1, "account_id": 1},
                                {"entry_id": 1, "account_id": 2}]),
    ("account of a card that does not exist", [
        "UPDATE accounts SET card_id = 99 WHERE id = 1",
    ], "reference_missing", [{"row_id": 1}]),
    ("entry of a transaction that does not exist", [
        "UPDATE journal_entries SET transaction_id = 98 WHERE id = 1",
    ], "reference_missing", [{"row_id": 1}]),
    ("return without original", [
        "UPDATE transactions SET original_transaction_id = NULL WHERE id = 3",
    ], "original_missing", [{"transaction_id": 3, "original_transaction_id": None}]),
    ("reversal of a transaction that does not exist", [
        REPLICA, "UPDATE transactions SET original_transaction_id = 99 WHERE id = 4",
    ], "original_missing", [{"transaction_id": 4, "original_transaction_id": 99}]),
    ("reversal without original", [
        insert_transaction(6, "reversal", mti="0400"),
    ], "original_missing", [{"transaction_id": 6, "original_transaction_id": None}]),
    ("original reversed twice", [
        insert_transaction(6, "reversal", mti="0400", stan="000003", original=3),
    ], "reversed_more_than_once", [{"original_transaction_id": 3}]),
    ("returns above the purchase", [
        insert_transaction(6, "return", amount=700, original=1),
        insert_transaction(7, "return", amount=301, original=1),
    ], "returns_exceed_original", [{"original_transaction_id": 1}]),
    ("idempotency key used twice within 7 days", [
        insert_transaction(6, "purchase", stan="000001", transmission_time="0301100100",
                           posted_minutes=1 + 6 * 24 * 60),
    ], "idempotency_key_reused", [{"transaction_id": 6, "other_transaction_id": 1}]),
    # The finding: a load from a terminal the alliance never registered.
    ("transaction of an unregistered terminal", [
        insert_transaction(6, "stored_value_load", terminal_code="FORGED01"),
    ], "terminal_mismatch", [{"transaction_id": 6}]),
    ("transaction of another merchant's terminal", [
        "INSERT INTO merchants (merchant_code, alliance_id, name)"
        " VALUES ('AUDITMERCHANT02', (SELECT id FROM alliances), 'Other shop')",
        "INSERT INTO terminals (terminal_code, merchant_id)"
        " SELECT 'AUDTERM2', id FROM merchants WHERE merchant_code = 'AUDITMERCHANT02'",
        "UPDATE transactions SET terminal_code = 'AUDTERM2' WHERE id = 2",
    ], "terminal_mismatch", [{"transaction_id": 2}]),
    # A back-office command said done with a transaction that is not its own.
    ("command done without its transaction", [
        "INSERT INTO host_commands (id, kind, payload, card_id, state, result_code, result,"
        "                           transaction_id, done_at) OVERRIDING SYSTEM VALUE"
        " VALUES (1, 'points_adjustment', '{}', (SELECT id FROM cards), 'done', '00', '+1',"
        "         1, now())",
    ], "command_mismatch", [{"command_id": 1, "transaction_id": 1}]),
    # Lots of 100 points (last day 2024-04-24) on a points balance of 30.
    ("lots holding more than the balance", [
        "UPDATE accounts SET lots = '\\x0b46b80000000064', lots_expire_first = '2024-04-24'"
        " WHERE id = 1",
    ], "lots_beyond_balance", [{"account_id": 1}]),
    # An expiry of 5 points whose moves took 3 from the lots.
    ("expiry booking other points than its lots", [
        "INSERT INTO transactions (id, kind, business_date, posted_at, card_id, amount,"
        "                          currency, points, lot_moves)"
        " VALUES (6, 'points_expiry', '2025-03-01', '2025-03-01 10:06+00', (SELECT id FROM"
        " cards), 5, '999', -5, '\\x000b46b8fffffffffffffffd')",
    ], "expiry_not_its_moves", [{"transaction_id": 6}]),
    # A card's row says GOLD; its newest standing (the row's own here) is SILVER.
    ("tier row other than the newest standing", [
        "INSERT INTO tier_standings (card_id, alliance_id, tier, tier_until, standing,"
        "                            changed_at, seq)"
        " SELECT id, alliance_id, 'GOLD', NULL, '\\x53494c5645520000'::bytea"
        "        || decode(repeat('00', 54), 'hex'), now(), 1 FROM cards",
    ], "standing_row_stale", [{"holder_id": -1}]),
]


@pytest.mark.parametrize(("statements", "check", "ids"),
                         [case[1:] for case in VIOLATIONS], ids=[case[0] for case in VIOLATIONS])
def test_each_violation_is_named_with_its_ids(audit, ledger_url, sql, statements, check, ids):
    sql(*statements)
    run = audit()
    assert run.exit_code == 1
    assert f"audit {len(ids)} violations:" in run.out
    for violation_ids in ids:
        named = " ".join(f"{name}={value}" for name, value in violation_ids.items())
        assert f"  {check} {named}: " in run.err, run.err

    report = audit("--json")
    assert report.exit_code == 1
    assert violations(report) == {check: ids}


def test_violations_listed_are_bounded_but_all_counted(audit, ledger_url, sql):
    # Break 150 balances: all are counted, the first 100 (by id) are listed.
    async def break_balances(connection):
        alliance = await connection.fetchval("SELECT id FROM alliances")
        card_ids = await insert_cards(connection, [f"9{n:015d}" for n in range(1, 151)],
                                      alliance, date(2099, 12, 31))
        await connection.execute(
            "INSERT INTO accounts (id, ledger, kind, card_id, balance)"
            " SELECT 100 + n, 'points', 'member_points', c, 1"
            " FROM unnest($1::bigint[]) WITH ORDINALITY AS u (c, n)", card_ids)

    sql(break_balances)
    run = audit()
    assert run.exit_code == 1
    assert "VIOLATION balance_mismatch: 150 rows break" in run.err
    assert "(first 100 listed)" in run.err
    listed = violations(audit("--json"))["balance_mismatch"]
    assert listed == [{"account_id": 100 + n} for n in range(1, 101)]


def test_a_database_without_the_schema_is_an_error(empty_database_url, tmp_path, capsys):
    from jifen.cli import main

    config = tmp_path / "jifen.toml"
    config.write_text(f'[database]\nurl = "{empty_database_url}"\n')
    assert main(["--config", str(config), "audit"]) == 2
    assert "has no Jifen schema" in capsys.readouterr().err
