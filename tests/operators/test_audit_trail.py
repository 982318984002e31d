"""The audit trail: append-only for everyone, one masked row per change in the change's own
transaction, and `jifen audit-log`'s filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.operators.conftest import ALLIANCE, BIN, MERCHANT_A, MERCHANT_B, TERMINAL_A

TMK_HEX = "0123456789ABCDEFFEDCBA9876543210"   # the fixture's terminals' TMK


@pytest.fixture
def rows(database_url, sql_as):
    """`rows()`: the audit rows, oldest first, as the owner reads them."""

    def fetch() -> list[asyncpg.Record]:
        return sql_as(database_url, "SELECT * FROM audit_log ORDER BY id")

    return fetch


class TestAppendOnly:
    @pytest.mark.parametrize("statement", [
        "UPDATE audit_log SET actor = 'nobody'",
        "UPDATE audit_log SET actor = 'nobody' WHERE false",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ])
    def test_refused_even_to_the_owner(self, jifen, database_url, sql_as, statement):
        assert sql_as(database_url, "SELECT count(*) FROM audit_log")[0][0] > 0
        owner = sql_as(database_url, "SELECT tableowner FROM pg_tables"
                                     " WHERE tablename = 'audit_log'")[0][0]
        assert sql_as(database_url, "SELECT current_user")[0][0] == owner
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            sql_as(database_url, statement)

    def test_refused_to_every_operator(self, operator_of, sql_as):
        for role in ("hq_admin", "auditor"):
            operator = operator_of(role)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                sql_as(operator.url, "DELETE FROM audit_log")


def _last(rows, action: str) -> asyncpg.Record:
    """The newest row of `action`."""
    found = [row for row in rows() if row["action"] == action]
    assert found, action
    return found[-1]


def _fields(value: str | None) -> Any:
    return None if value is None else json.loads(value)


class TestEachChangeWritesItsRow:
    def test_reference_data(self, operator_of, as_operator, rows):
        hq, checker = operator_of("hq_admin"), operator_of("hq_admin")
        for argv in (
            ("alliance", "create", "--code", "OPS2", "--name", "Ops 2"),
            ("alliance", "set-mac-for-loads", "--code", "OPS2", "--off"),
            ("merchant", "deactivate", "--code", MERCHANT_A),
            ("merchant", "activate", "--code", MERCHANT_A),
            ("terminal", "set-mac", "--code", TERMINAL_A, "--off"),
            ("card-range", "add", "--bin-low", "622200", "--bin-high", "622299"),
        ):
            result = as_operator(hq, *argv)
            assert result.exit_code == 0, (argv, result.err)
        # A rule change is a request (maker-checker): a second HQ admin carries it out.
        requested = as_operator(hq, "settlement-rule", "set", "--alliance", ALLIANCE,
                                "--merchant", MERCHANT_B, "--effective", "2030-01-01",
                                "--issue-price-fen", "0.5", "--redemption-rate-fen", "0.8",
                                "--json")
        assert requested.exit_code == 0, requested.err
        request_id = json.loads(requested.out)["id"]
        approved = as_operator(checker, "approval", "approve", "--id", str(request_id))
        assert approved.exit_code == 0, approved.err
        alliance = _last(rows, "alliance.create")
        assert (alliance["actor"], alliance["object_kind"], alliance["object_key"]) == (
            hq.name, "alliance", "OPS2")
        assert _fields(alliance["after"])["requires_mac_for_loads"] is True
        mac = _last(rows, "alliance.set_mac_for_loads")
        assert (_fields(mac["before"]), _fields(mac["after"])) == (
            {"requires_mac_for_loads": True}, {"requires_mac_for_loads": False})
        off = _last(rows, "merchant.deactivate")
        assert (off["object_key"], _fields(off["before"]), _fields(off["after"])) == (
            MERCHANT_A, {"active": True}, {"active": False})
        assert off["merchant_id"] is not None
        terminal = _last(rows, "terminal.set_mac")
        assert (_fields(terminal["before"]), _fields(terminal["after"])) == (
            {"requires_mac": True}, {"requires_mac": False})
        assert _last(rows, "card_range.add")["object_key"] == "622200-622299"
        rules = [row for row in rows() if row["action"] == "settlement_rule.set"]
        assert _fields(rules[0]["before"]) is None   # the fixture's, new
        assert _fields(rules[1]["before"])["issue_price_fen"] == "1.000000"
        assert _fields(rules[1]["after"])["issue_price_fen"] == "0.5"
        assert rules[1]["actor"] == checker.name
        assert [row["actor"] for row in rows()[-9:]] == [hq.name] * 7 + [checker.name] * 2

    def test_terminal_create_keeps_no_tmk(self, jifen, rows):
        row = _last(rows, "terminal.create")
        after = _fields(row["after"])
        assert after["tmk"] == "***" and len(after["tmk_check_value"]) == 6
        assert TMK_HEX.lower() not in json.dumps([dict(r) for r in rows()], default=str).lower()

    def test_cards_are_masked(self, operator_of, as_operator, rows, tmp_path):
        cards = operator_of("card_service")
        out = tmp_path / "cards.csv"
        assert as_operator(cards, "card", "issue", "--alliance", ALLIANCE, "--bin", BIN,
                           "--count", "3", "--out", str(out)).exit_code == 0
        pans = [line.split(",")[0] for line in out.read_text().splitlines()[1:]]
        assert as_operator(cards, "card", "status", "--pan", pans[0], "stolen").exit_code == 0
        issue = _last(rows, "card.issue")
        assert issue["object_kind"] == "card_batch"
        assert _fields(issue["after"])["pan"] == [pan[:6] + "******" + pan[-4:]
                                                  for pan in pans]
        status = _last(rows, "card.status")
        assert status["object_key"] == pans[0][:6] + "******" + pans[0][-4:]
        assert _fields(status["before"])["status"] == "active"
        assert _fields(status["after"])["status"] == "stolen"
        everything = json.dumps([dict(row) for row in rows()], default=str)
        assert not any(pan in everything for pan in pans)

    def test_operators(self, operator_of, as_operator, jifen, rows, monkeypatch):
        hq, cards = operator_of("hq_admin"), operator_of("card_service")
        assert as_operator(hq, "operator", "disable", "--name", cards.name).exit_code == 0
        assert as_operator(hq, "operator", "enable", "--name", cards.name).exit_code == 0
        monkeypatch.setenv("NEW_PW", "yet-another-password")
        assert as_operator(cards, "operator", "passwd", "--password-env",
                           "NEW_PW").exit_code == 0
        created = [row for row in rows() if row["action"] == "operator.create"]
        assert [row["object_key"] for row in created][-2:] == [hq.name, cards.name]
        assert _fields(_last(rows, "operator.disable")["after"]) == {"active": False}
        assert _last(rows, "operator.enable")["actor"] == hq.name
        passwd = _last(rows, "operator.passwd")
        assert (passwd["actor"], _fields(passwd["after"])) == (cards.name,
                                                               {"password": "changed"})
        everything = json.dumps([dict(row) for row in rows()], default=str)
        for secret in (hq.password, cards.password, "yet-another-password", "SCRAM"):
            assert secret not in everything

    def test_a_refused_change_leaves_no_row(self, jifen, rows):
        before = len(rows())
        duplicate = jifen("merchant", "create", "--alliance", ALLIANCE, "--code", MERCHANT_A,
                          "--name", "again")
        assert duplicate.exit_code == 2
        unknown = jifen("card", "status", "--pan", "6221990000000000", "lost")
        assert unknown.exit_code == 2
        assert len(rows()) == before


class TestAuditLogCommand:
    def test_filters(self, operator_of, as_operator, jifen, tmp_path):
        hq = operator_of("hq_admin")
        assert as_operator(hq, "merchant", "deactivate", "--code", MERCHANT_B).exit_code == 0
        out = tmp_path / "cards.csv"
        assert jifen("card", "issue", "--alliance", ALLIANCE, "--bin", BIN, "--count", "1",
                     "--out", str(out)).exit_code == 0
        pan = out.read_text().splitlines()[1].split(",")[0]
        assert jifen("card", "status", "--pan", pan, "lost").exit_code == 0

        def actions(*argv: str) -> list[str]:
            result = jifen("audit-log", "--json", *argv)
            assert result.exit_code == 0, result.err
            return [row["action"] for row in json.loads(result.out)]

        assert actions("--operator", hq.name) == ["merchant.deactivate"]
        assert actions("--card", pan) == ["card.status"]
        assert actions("--merchant", MERCHANT_B) == [
            "merchant.deactivate", "settlement_rule.set", "terminal.create",
            "merchant.create"]
        assert len(actions("--limit", "2")) == 2
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        assert actions("--from", tomorrow) == []
        assert len(actions("--to", datetime.now(UTC).date().isoformat())) > 5
        assert actions("--to", "2000-01-01T00:00:00+08:00") == []
        table = jifen("audit-log", "--card", pan)
        assert pan not in table.out and pan[:6] + "******" + pan[-4:] in table.out

    def test_bad_filters_are_refused(self, jifen):
        assert "--limit must be" in jifen("audit-log", "--limit", "0").err
        assert "bad time" in jifen("audit-log", "--from", "yesterday").err
        assert "digits only" in jifen("audit-log", "--card", "6221-99").err

    def test_a_merchant_admin_reads_its_merchant_rows(self, operator_of, as_operator):
        admin = operator_of("merchant_admin", MERCHANT_B)
        result = as_operator(admin, "audit-log", "--json")
        assert result.exit_code == 0, result.err
        assert {row["merchant_code"] for row in json.loads(result.out)} == {MERCHANT_B}

    def test_filters_by_operator_use_an_index(self, database_url, run_async):
        async def plan() -> str:
            conn = await asyncpg.connect(database_url)
            try:
                await conn.execute("SET enable_seqscan = off")
                rows = await conn.fetch("EXPLAIN SELECT * FROM audit_log WHERE actor = 'x'"
                                        " ORDER BY at DESC LIMIT 10")
                return "\n".join(row[0] for row in rows)
            finally:
                await conn.close()

        assert "audit_log_actor_at" in run_async(plan)
