"""Maker-checker: an operator's unblock or settlement-rule change is a request; only a second
operator of the right role carries it out, and the database refuses the maker's own decision
even past the CLI."""

from __future__ import annotations

import json

import asyncpg
import pytest

from tests.operators.conftest import ALLIANCE, BIN, MERCHANT_A


def _issue_blocked_card(jifen) -> str:
    assert jifen("card", "issue", "--alliance", ALLIANCE, "--bin", BIN, "--count", "1",
                 "--out", "one.csv").exit_code == 0
    with open("one.csv") as handle:
        pan = handle.read().splitlines()[1].split(",")[0]
    assert jifen("card", "block", "--pan", pan).exit_code == 0
    return pan


def _request_id(run) -> int:
    assert run.exit_code == 0, run.err
    return json.loads(run.out)["id"]


def _status(sql_as, database_url: str, pan_suffix: str) -> str:
    [row] = sql_as(database_url, "SELECT status FROM cards WHERE pan_masked LIKE $1",
                   f"%{pan_suffix}")
    return row["status"]


def test_an_unblock_needs_a_second_operator(
    jifen, operator_of, as_operator, sql_as, database_url,
) -> None:
    pan = _issue_blocked_card(jifen)
    maker, checker = operator_of("card_service"), operator_of("card_service")
    request_id = _request_id(as_operator(maker, "card", "unblock", "--pan", pan, "--json"))
    assert _status(sql_as, database_url, pan[-4:]) == "blocked"   # nothing yet
    own = as_operator(maker, "approval", "approve", "--id", str(request_id))
    assert own.exit_code == 2 and f"request {request_id} is yours" in own.err
    direct = as_operator(maker, "card", "status", "--pan", pan, "active")
    assert direct.exit_code == 2 and "a second operator approves" in direct.err
    listed = json.loads(as_operator(checker, "approval", "list", "--json").out)
    assert [(r["id"], r["subject"]) for r in listed] == [
        (request_id, f"card {pan[:6]}******{pan[-4:]}")]
    approved = as_operator(checker, "approval", "approve", "--id", str(request_id), "--json")
    assert approved.exit_code == 0, approved.err
    decided = json.loads(approved.out)
    assert (decided["state"], decided["requested_by"], decided["decided_by"]) == (
        "approved", maker.name, checker.name)
    assert _status(sql_as, database_url, pan[-4:]) == "active"
    again = as_operator(checker, "approval", "approve", "--id", str(request_id))
    assert again.exit_code == 2 and "approved already" in again.err
    trail = sql_as(database_url, "SELECT actor, action FROM audit_log WHERE request_id = $1"
                   " ORDER BY id", request_id)
    assert [(row["actor"], row["action"]) for row in trail] == [
        (maker.name, "approval.request"), (checker.name, "approval.approve")]


def test_the_database_refuses_the_makers_own_decision(
    jifen, operator_of, as_operator, run_async,
) -> None:
    pan = _issue_blocked_card(jifen)
    maker = operator_of("card_service")
    request_id = _request_id(as_operator(maker, "card", "unblock", "--pan", pan, "--json"))

    async def decide_own() -> None:
        connection = await asyncpg.connect(maker.url)
        try:
            await connection.execute("UPDATE approval_requests SET state = 'approved',"
                                     " decided_by = 'someone_else' WHERE id = $1", request_id)
        finally:
            await connection.close()

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="their own request"):
        run_async(decide_own)


def test_a_rule_change_is_approved_by_hq_only(
    jifen, operator_of, as_operator, sql_as, database_url,
) -> None:
    maker, hq = operator_of("hq_admin"), operator_of("hq_admin")
    cards = operator_of("card_service")
    request_id = _request_id(as_operator(
        maker, "settlement-rule", "set", "--alliance", ALLIANCE, "--merchant", MERCHANT_A,
        "--effective", "2031-01-01", "--issue-price-fen", "1.2", "--redemption-rate-fen", "1",
        "--json"))
    refused = as_operator(cards, "approval", "approve", "--id", str(request_id))
    assert refused.exit_code == 2 and "may not approve a request to change a settlement" \
        " rule: needs hq admin" in refused.err
    assert as_operator(hq, "approval", "approve", "--id", str(request_id)).exit_code == 0
    rows = sql_as(database_url, "SELECT issue_price_fen::text AS price FROM settlement_rules"
                  " WHERE effective_from = '2031-01-01'")
    assert [row["price"] for row in rows] == ["1.200000"]


def test_a_rejected_or_expired_request_changes_nothing(
    jifen, operator_of, as_operator, sql_as, database_url, execute_sql,
) -> None:
    pan = _issue_blocked_card(jifen)
    maker, checker = operator_of("card_service"), operator_of("hq_admin")
    first = _request_id(as_operator(maker, "card", "unblock", "--pan", pan, "--json"))
    no_note = as_operator(checker, "approval", "reject", "--id", str(first), "--note", " ")
    assert no_note.exit_code == 2 and "say why" in no_note.err
    assert as_operator(checker, "approval", "reject", "--id", str(first), "--note",
                       "not the owner").exit_code == 0
    second = _request_id(as_operator(maker, "card", "unblock", "--pan", pan, "--json"))
    execute_sql(database_url,   # as if it had waited past its time
                "ALTER TABLE approval_requests DISABLE TRIGGER approval_requests_guard",
                f"UPDATE approval_requests SET requested_at = now() - interval '2 days',"
                f" expires_at = now() - interval '1 day' WHERE id = {second}",
                "ALTER TABLE approval_requests ENABLE TRIGGER approval_requests_guard")
    late = as_operator(checker, "approval", "approve", "--id", str(second))
    assert late.exit_code == 2 and "has expired" in late.err
    states = {row["id"]: row["state"] for row in json.loads(
        as_operator(checker, "approval", "list", "--all", "--json").out)}
    assert states == {first: "rejected", second: "expired"}
    assert _status(sql_as, database_url, pan[-4:]) == "blocked"


def test_a_password_reset_is_a_request_that_keeps_no_password(
    jifen, operator_of, as_operator, sql_as, database_url, tmp_path,
) -> None:
    assert jifen("card", "issue", "--alliance", ALLIANCE, "--bin", BIN, "--count", "1",
                 "--out", "one.csv").exit_code == 0
    with open("one.csv") as handle:
        pan = handle.read().splitlines()[1].split(",")[0]
    first, second = tmp_path / "first.pw", tmp_path / "second.pw"
    for path, password in ((first, "123456"), (second, "654321")):
        path.write_text(password + "\n")
        path.chmod(0o600)
    maker, checker = operator_of("card_service"), operator_of("card_service")
    assert as_operator(maker, "card", "password", "set", "--pan", pan, "--password-file",
                       str(first)).exit_code == 0
    request_id = _request_id(as_operator(maker, "card", "password", "reset", "--pan", pan,
                                         "--password-file", str(second), "--json"))
    [row] = sql_as(database_url, "SELECT payload::text AS p, subject FROM approval_requests"
                   " WHERE id = $1", request_id)
    assert "654321" not in row["p"] and pan not in row["p"] + row["subject"]
    versions = sql_as(database_url, "SELECT password_version FROM cards")
    assert as_operator(checker, "approval", "approve", "--id", str(request_id)).exit_code == 0
    after = sql_as(database_url, "SELECT password_version FROM cards")
    assert after[0]["password_version"] == versions[0]["password_version"] + 1
    trail = sql_as(database_url, "SELECT before::text || after::text AS t FROM audit_log"
                   " WHERE action LIKE 'card.password%'")
    assert len(trail) == 2 and not any("123456" in r["t"] or "654321" in r["t"] for r in trail)


def test_a_merchants_name_is_changed_and_its_earn_rate_requested(
    jifen, operator_of, as_operator, sql_as, database_url,
) -> None:
    maker, checker = operator_of("hq_admin"), operator_of("hq_admin")
    renamed = as_operator(maker, "merchant", "update", "--code", MERCHANT_A, "--name", "甲店")
    assert renamed.exit_code == 0, renamed.err
    request_id = _request_id(as_operator(maker, "merchant", "update", "--code", MERCHANT_A,
                                         "--earn-points-per-yuan", "3", "--json"))
    rate = "SELECT name, earn_points_per_yuan AS r FROM merchants WHERE merchant_code = $1"
    assert [tuple(row) for row in sql_as(database_url, rate, MERCHANT_A)] == [("甲店", 1)]
    assert as_operator(checker, "approval", "approve", "--id", str(request_id)).exit_code == 0
    assert [tuple(row) for row in sql_as(database_url, rate, MERCHANT_A)] == [("甲店", 3)]


def test_an_auditor_reads_the_requests_and_decides_none(
    jifen, operator_of, as_operator, execute_sql, database_url,
) -> None:
    pan = _issue_blocked_card(jifen)
    maker, auditor = operator_of("card_service"), operator_of("auditor")
    request_id = _request_id(as_operator(maker, "card", "unblock", "--pan", pan, "--json"))
    execute_sql(database_url,   # overdue: listed as expired, though nobody has marked it yet
                "ALTER TABLE approval_requests DISABLE TRIGGER approval_requests_guard",
                f"UPDATE approval_requests SET requested_at = now() - interval '2 days',"
                f" expires_at = now() - interval '1 day' WHERE id = {request_id}",
                "ALTER TABLE approval_requests ENABLE TRIGGER approval_requests_guard")
    listed = as_operator(auditor, "approval", "list", "--all", "--json")
    assert listed.exit_code == 0, listed.err
    assert [(row["id"], row["state"]) for row in json.loads(listed.out)] == [
        (request_id, "expired")]
    refused = as_operator(auditor, "approval", "approve", "--id", str(request_id))
    assert refused.exit_code == 2 and "may not approve requests" in refused.err


def test_earn_rules_set_by_an_operator_wait_for_a_second_hq_admin(
    jifen, operator_of, as_operator, sql_as, database_url, tmp_path,
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[rates]\ndefault = { points = 2 }\n")
    maker, checker = operator_of("hq_admin"), operator_of("hq_admin")
    refused = as_operator(operator_of("card_service"), "rules", "set", "--alliance", ALLIANCE,
                          "--effective", "2099-01-01", "--file", str(rules))
    assert refused.exit_code == 2 and "may not change the earn rules" in refused.err
    request_id = _request_id(as_operator(maker, "rules", "set", "--alliance", ALLIANCE,
                                         "--effective", "2099-01-01", "--file", str(rules),
                                         "--json"))
    assert sql_as(database_url, "SELECT count(*) AS n FROM earn_rule_sets")[0]["n"] == 0
    approved = as_operator(checker, "approval", "approve", "--id", str(request_id))
    assert approved.exit_code == 0, approved.err
    [row] = sql_as(database_url, "SELECT effective_from::text AS day, approval_id,"
                   " document->'rates'->'default'->>'points' AS points FROM earn_rule_sets")
    assert (row["day"], row["approval_id"], row["points"]) == ("2099-01-01", request_id, "2")
    shown = as_operator(checker, "rules", "show", "--alliance", ALLIANCE, "--date",
                        "2099-01-02", "--json")
    assert json.loads(shown.out)["effective_from"] == "2099-01-01"
