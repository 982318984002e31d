"""`jifen gift` and `jifen alliance set-order-share` over the CLI: HQ admin changes, every other
role reads; each change leaves an audit row; the back office cannot write a gift's stock (the
host's), not even with SQL. What the host does with them: tests/e2e/test_gifts.py."""

from __future__ import annotations

import json

import asyncpg
import pytest

from tests.operators.conftest import ALLIANCE

ADD_LAMP = ("gift", "add", "--alliance", ALLIANCE, "--code", "LAMP", "--name", "Desk lamp",
            "--points", "40", "--stock", "3")


class TestRights:
    def test_hq_admin_adds_and_others_read(self, operator_of, as_operator, sql_as,
                                           database_url):
        hq = operator_of("hq_admin")
        added = as_operator(hq, *ADD_LAMP, "--json")
        assert added.exit_code == 0, added.err
        assert json.loads(added.out) == {
            "alliance": ALLIANCE, "code": "LAMP", "name": "Desk lamp", "points": 40,
            "stock": 3, "active": True, "host": "main"}
        for role in ("card_service", "merchant_admin", "clearing", "auditor"):
            listed = as_operator(operator_of(role), "gift", "list", "--json")
            assert listed.exit_code == 0, (role, listed.err)
            assert [gift["code"] for gift in json.loads(listed.out)] == ["LAMP"], role
        refused = as_operator(operator_of("card_service"), "gift", "restock", "--alliance",
                              ALLIANCE, "--code", "LAMP", "--quantity", "1", "--reason", "x")
        assert refused.exit_code == 2
        assert "may not restock gifts: needs hq admin" in refused.err
        audit = sql_as(database_url, "SELECT action, object_key, actor, after FROM audit_log"
                                     " WHERE object_kind = 'gift'")
        assert [(row["action"], row["object_key"], row["actor"]) for row in audit] == [
            ("gift.add", f"{ALLIANCE}/LAMP", hq.name)]
        assert json.loads(audit[0]["after"])["stock"] == 3

    def test_a_duplicate_and_a_bad_code_are_refused(self, jifen):
        assert jifen(*ADD_LAMP).exit_code == 0
        again = jifen(*ADD_LAMP)
        assert (again.exit_code, again.err) == (
            2, f"jifen: error: alliance {ALLIANCE} has a gift LAMP already\n")
        bad = jifen("gift", "add", "--alliance", ALLIANCE, "--code", "LAMP 2", "--name", "x",
                    "--points", "1", "--stock", "1")
        assert bad.exit_code == 2 and "1 to 32 letters" in bad.err

    def test_the_stock_is_the_hosts(self, operator_of, as_operator, sql_as):
        hq = operator_of("hq_admin")
        assert as_operator(hq, *ADD_LAMP).exit_code == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            sql_as(hq.url, "UPDATE gift_catalogue SET stock = 100")


class TestOrderShare:
    def test_hq_admin_sets_it_audited(self, operator_of, as_operator, sql_as, database_url):
        hq = operator_of("hq_admin")
        listed = json.loads(as_operator(hq, "alliance", "list", "--json").out)
        assert listed[0]["order_points_share_bp"] == 5000   # the default: half
        shared = as_operator(hq, "alliance", "set-order-share", "--code", ALLIANCE,
                             "--share-bp", "2500")
        assert (shared.exit_code, shared.out) == (
            0, f"alliance {ALLIANCE}: points may pay at most 25 % of an order\n")
        too_much = as_operator(hq, "alliance", "set-order-share", "--code", ALLIANCE,
                               "--share-bp", "10001")
        assert too_much.exit_code == 2 and "0 to 10000 basis points" in too_much.err
        refused = as_operator(operator_of("card_service"), "alliance", "set-order-share",
                              "--code", ALLIANCE, "--share-bp", "100")
        assert "may not change alliances: needs hq admin" in refused.err
        audit = sql_as(database_url, "SELECT before, after FROM audit_log"
                                     " WHERE action = 'alliance.set_order_share'")
        assert [(json.loads(row["before"]), json.loads(row["after"])) for row in audit] == [
            ({"order_points_share_bp": 5000}, {"order_points_share_bp": 2500})]
