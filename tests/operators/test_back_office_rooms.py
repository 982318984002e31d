"""Members, cards' life and shops under the operators' rights: who may, and the audit trail's
masked rows of what they did."""

from __future__ import annotations

import json

from tests.operators.conftest import ALLIANCE, BIN, MERCHANT_A, MERCHANT_B

MOBILE = "13812345678"


def test_card_service_keeps_members_and_the_trail_keeps_masks(
    jifen, operator_of, as_operator, sql_as, database_url,
) -> None:
    service = operator_of("card_service")
    created = as_operator(service, "member", "create", "--alliance", ALLIANCE, "--name", "李雷",
                          "--mobile", MOBILE, "--json")
    assert created.exit_code == 0, created.err
    member_id = json.loads(created.out)["member_id"]
    assert as_operator(service, "member", "find", "--mobile", MOBILE).exit_code == 0
    issued = as_operator(service, "card", "issue", "--alliance", ALLIANCE, "--bin", BIN,
                         "--count", "1", "--out", "one.csv")
    assert issued.exit_code == 0, issued.err
    with open("one.csv") as handle:
        pan = handle.read().splitlines()[1].split(",")[0]
    for argv in (("member", "assign-card", "--pan", pan, "--member", str(member_id)),
                 ("card", "block", "--pan", pan), ("card", "unblock", "--pan", pan)):
        run = as_operator(service, *argv)
        assert run.exit_code == 0, (argv, run.err)
    rows = sql_as(database_url, "SELECT actor, action, object_key, before::text AS b,"
                  " after::text AS a FROM audit_log WHERE actor = $1 ORDER BY id", service.name)
    assert [row["action"] for row in rows] == [
        "member.create", "card.issue", "member.assign_card", "card.block",
        "approval.request"]   # an operator's unblock waits for a second operator
    text = " ".join(f"{row['object_key']} {row['b']} {row['a']}" for row in rows)
    assert MOBILE not in text and pan not in text and "138****5678" in text


def test_who_may_not(jifen, operator_of, as_operator, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)   # tmk.hex: the fixture's
    admin = operator_of("merchant_admin", MERCHANT_A)
    auditor = operator_of("auditor")
    for operator, argv, message in [
        (admin, ("member", "create", "--alliance", ALLIANCE, "--name", "x", "--mobile",
                 MOBILE), "may not create members: needs hq admin or card service"),
        (auditor, ("card", "lost", "--pan", BIN + "0000000000"),
         "may not report cards lost: needs hq admin or card service"),
        (admin, ("shop", "create", "--merchant", MERCHANT_A, "--code", "A1", "--name", "a"),
         "may not create shops: needs hq admin"),
        (admin, ("terminal", "rotate-tmk", "--code", "OPSA0001", "--tmk-file", "tmk.hex"),
         "may not give terminals a new TMK: needs hq admin"),
    ]:
        run = as_operator(operator, *argv)
        assert run.exit_code == 2 and message in run.err, (argv, run.err)


def test_a_merchant_admin_sees_its_own_shops_only(jifen, operator_of, sql_as) -> None:
    for merchant, code in ((MERCHANT_A, "A1"), (MERCHANT_B, "B1")):
        assert jifen("shop", "create", "--merchant", merchant, "--code", code, "--name",
                     code).exit_code == 0
    admin = operator_of("merchant_admin", MERCHANT_A)
    rows = sql_as(admin.url, "SELECT shop_code FROM shops ORDER BY shop_code")
    assert [row["shop_code"] for row in rows] == ["A1"]
