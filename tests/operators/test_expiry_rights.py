"""`jifen rules expire` as operators: an HQ admin's asks the host (a sweep command of the due
cards, with its audit row; no host runs here, so it stays pending and the run says so), any
other role is refused. What the host does with it: tests/e2e/test_expiring_points.py."""

from __future__ import annotations

import json

from tests.operators.conftest import ALLIANCE, BIN

# A lot of 100 points whose last day (2024-04-24) has long passed, on the card's account.
_DUE_ACCOUNT_SQL = """
INSERT INTO accounts (id, ledger, kind, card_id, balance, lots, lots_expire_first)
SELECT 1000, 'points', 'member_points', id, 100, '\\x0b46b80000000064', '2024-04-24'
FROM cards
"""


def test_hq_admin_asks_the_host_and_others_may_not(jifen, operator_of, as_operator, sql_as,
                                                   database_url) -> None:
    issued = jifen("card", "issue", "--alliance", ALLIANCE, "--bin", BIN, "--count", "1")
    assert issued.exit_code == 0, issued.err
    sql_as(database_url, _DUE_ACCOUNT_SQL)
    refused = as_operator(operator_of("card_service"), "rules", "expire")
    assert refused.exit_code == 2 and "may not expire points: needs hq admin" in refused.err
    hq = operator_of("hq_admin")
    run = as_operator(hq, "rules", "expire", "--alliance", ALLIANCE, "--wait", "0.2", "--json")
    assert run.exit_code == 1
    assert "1 expiry commands not done" in run.err
    [expiry] = json.loads(run.out)
    assert (expiry["cards"], [c["state"] for c in expiry["commands"]]) == (1, ["pending"])
    [command] = sql_as(database_url, "SELECT kind, requested_by, payload FROM host_commands")
    assert (command["kind"], command["requested_by"]) == ("points_expiry", hq.name)
    assert json.loads(command["payload"])["through"] == expiry["through"]
    [audit] = sql_as(database_url, "SELECT actor FROM audit_log WHERE action = 'rules.expire'")
    assert audit["actor"] == hq.name
    sql_as(database_url, "DELETE FROM accounts WHERE id = 1000")   # it has no journal
