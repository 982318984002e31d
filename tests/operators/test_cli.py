"""Over the CLI: each operator role allowed and refused, the refusal's message, a login
refused, a disabled operator, the database's own refusal as a clear error, passwords."""

from __future__ import annotations

import json
import os
import stat

from back_office.operators import rights
from tests.operators.conftest import ALLIANCE, BIN, MERCHANT_A, MERCHANT_B

NEW_MERCHANT = ("merchant", "create", "--alliance", ALLIANCE, "--code", "OPSMERCHANT0009",
                "--name", "Shop C")


def _codes(out: str) -> list[str]:
    return [row["merchant_code"] for row in json.loads(out)]


class TestEachRole:
    def test_hq_admin(self, operator_of, as_operator):
        hq = operator_of("hq_admin")
        created = as_operator(hq, *NEW_MERCHANT)
        assert created.exit_code == 0, created.err
        refused = as_operator(hq, "clearing", "status")
        assert refused.exit_code == 2
        assert refused.err == (f"jifen: error: operator {hq.name} (hq admin) may not read "
                               f"clearing's status: needs clearing operator or auditor\n")

    def test_card_service(self, operator_of, as_operator, tmp_path):
        cards = operator_of("card_service")
        out = tmp_path / "cards.csv"
        issued = as_operator(cards, "card", "issue", "--alliance", ALLIANCE, "--bin", BIN,
                             "--count", "2", "--out", str(out))
        assert issued.exit_code == 0, issued.err
        pan = out.read_text().splitlines()[1].split(",")[0]
        lost = as_operator(cards, "card", "status", "--pan", pan, "lost")
        assert lost.exit_code == 0, lost.err
        refused = as_operator(cards, *NEW_MERCHANT)
        assert refused.err == (f"jifen: error: operator {cards.name} (card service) may not "
                               f"create merchants: needs hq admin\n")

    def test_merchant_admin_sees_only_its_merchant(self, operator_of, as_operator, jifen):
        admin = operator_of("merchant_admin", MERCHANT_A)
        assert _codes(jifen("merchant", "list", "--json").out) == [MERCHANT_A, MERCHANT_B]
        assert _codes(as_operator(admin, "merchant", "list", "--json").out) == [MERCHANT_A]
        terminals = json.loads(as_operator(admin, "terminal", "list", "--json").out)
        assert [t["merchant_code"] for t in terminals] == [MERCHANT_A]
        refused = as_operator(admin, "merchant", "deactivate", "--code", MERCHANT_A)
        assert "may not deactivate merchants: needs hq admin" in refused.err

    def test_clearing_operator(self, operator_of, as_operator):
        clearing = operator_of("clearing")
        status = as_operator(clearing, "clearing", "status", "--alliance", ALLIANCE)
        assert status.exit_code == 0, status.err
        refused = as_operator(clearing, "card", "issue", "--alliance", ALLIANCE, "--bin", BIN,
                              "--count", "1")
        assert "may not issue cards: needs hq admin or card service" in refused.err

    def test_auditor(self, operator_of, as_operator):
        auditor = operator_of("auditor")
        log = as_operator(auditor, "audit-log", "--json")
        assert log.exit_code == 0, log.err
        assert {row["action"] for row in json.loads(log.out)} >= {"merchant.create"}
        refused = as_operator(auditor, "operator", "create", "--name", "someone",
                              "--role", "auditor", "--password-env", "X")
        assert "may not create operators: needs hq admin" in refused.err

    def test_installer_commands_are_refused_to_operators(self, operator_of, as_operator):
        hq = operator_of("hq_admin")
        refused = as_operator(hq, "db", "status")
        assert refused.exit_code == 2
        assert "may not run `jifen db`: it is the installer's" in refused.err


class TestTheDatabaseRefusesToo:
    def test_a_command_the_cli_would_let_through(self, operator_of, as_operator,
                                                   monkeypatch):
        """With the CLI's table wrong, the database still refuses, as a clear error."""
        cards = operator_of("card_service")
        monkeypatch.setitem(rights.COMMAND_RIGHTS, ("merchant", "create"),
                            rights.Right("create merchants", rights.EVERYONE))
        refused = as_operator(cards, *NEW_MERCHANT)
        assert refused.exit_code == 2
        assert refused.err.startswith(f"jifen: error: the database refused operator "
                                      f"{cards.name}: permission denied")

    def test_a_merchant_admin_reads_nothing_of_another_merchant(
            self, operator_of, as_operator, monkeypatch):
        admin = operator_of("merchant_admin", MERCHANT_B)
        listed = as_operator(admin, "settlement-rule", "list", "--alliance", ALLIANCE, "--json")
        assert {rule["merchant_code"] for rule in json.loads(listed.out)} == {MERCHANT_B}


class TestLogin:
    def test_a_wrong_password_is_refused(self, operator_of, jifen, monkeypatch):
        hq = operator_of("hq_admin")
        monkeypatch.setenv("JIFEN_OPERATOR_PASSWORD", "not-the-password-at-all")
        refused = jifen("--operator", hq.name, "merchant", "list")
        assert refused.exit_code == 2
        assert f"operator {hq.name} could not log in" in refused.err
        assert "not-the-password-at-all" not in refused.err + refused.out

    def test_a_disabled_operator_cannot_log_in_until_enabled(
            self, operator_of, as_operator, jifen):
        cards = operator_of("card_service")
        assert jifen("operator", "disable", "--name", cards.name).exit_code == 0
        refused = as_operator(cards, "card-range", "list")
        assert f"operator {cards.name} could not log in" in refused.err
        assert jifen("operator", "enable", "--name", cards.name).exit_code == 0
        assert as_operator(cards, "card-range", "list").exit_code == 0

    def test_the_password_from_a_private_file_only(self, operator_of, jifen, tmp_path):
        cards = operator_of("card_service")
        path = tmp_path / "password"
        path.write_text(cards.password + "\n")
        path.chmod(0o644)
        open_file = jifen("--operator", cards.name, "--operator-password-file", str(path),
                          "card-range", "list")
        assert open_file.exit_code == 2
        assert "chmod 600" in open_file.err
        path.chmod(0o600)
        private = jifen("--operator", cards.name, "--operator-password-file", str(path),
                        "card-range", "list")
        assert private.exit_code == 0, private.err

    def test_without_a_password_and_no_terminal(self, operator_of, jifen, monkeypatch):
        cards = operator_of("card_service")
        monkeypatch.setattr("sys.stdin.isatty", lambda: False)
        refused = jifen("--operator", cards.name, "card-range", "list")
        assert "needs its password" in refused.err

    def test_the_environment_names_the_operator(self, operator_of, jifen, monkeypatch):
        admin = operator_of("merchant_admin", MERCHANT_A)
        monkeypatch.setenv("JIFEN_OPERATOR", admin.name)
        monkeypatch.setenv("JIFEN_OPERATOR_PASSWORD", admin.password)
        assert _codes(jifen("merchant", "list", "--json").out) == [MERCHANT_A]


class TestPasswords:
    def test_an_operator_changes_its_own_password_not_anothers(
            self, operator_of, as_operator, jifen, tmp_path, monkeypatch):
        cards, other = operator_of("card_service"), operator_of("auditor")
        monkeypatch.setenv("NEW_OPERATOR_PASSWORD", "a-new-password-of-cards")
        changed = as_operator(cards, "operator", "passwd", "--password-env",
                              "NEW_OPERATOR_PASSWORD")
        assert changed.exit_code == 0, changed.err
        assert "a-new-password-of-cards" not in changed.out + changed.err
        monkeypatch.setenv("JIFEN_OPERATOR_PASSWORD", "a-new-password-of-cards")
        assert jifen("--operator", cards.name, "card-range", "list").exit_code == 0
        refused = jifen("--operator", cards.name, "operator", "passwd", "--name", other.name,
                        "--password-env", "NEW_OPERATOR_PASSWORD")
        assert "may not set another operator's password: needs hq admin" in refused.err

    def test_an_hq_admin_sets_anyones_password(self, operator_of, as_operator, jifen,
                                               tmp_path):
        hq, cards = operator_of("hq_admin"), operator_of("card_service")
        path = tmp_path / "new"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(descriptor, b"set-by-the-hq-admin-0\n")
        os.close(descriptor)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        changed = as_operator(hq, "operator", "passwd", "--name", cards.name,
                              "--password-file", str(path))
        assert changed.exit_code == 0, changed.err
        old = as_operator(cards, "card-range", "list")
        assert "could not log in" in old.err

    def test_a_short_password_is_refused(self, jifen, monkeypatch):
        monkeypatch.setenv("SHORT", "short")
        refused = jifen("operator", "create", "--name", "shorty", "--role", "auditor",
                        "--password-env", "SHORT")
        assert refused.err == "jifen: error: an operator password has 12-1000 characters\n"

    def test_a_merchant_admin_needs_its_merchant(self, jifen, monkeypatch):
        monkeypatch.setenv("PW", "long-enough-password")
        refused = jifen("operator", "create", "--name", "nomerchant", "--role",
                        "merchant_admin", "--password-env", "PW")
        assert "a merchant admin needs --merchant" in refused.err


class TestLedgerCheck:
    def test_an_auditor_checks_the_ledger_an_hq_admin_may_not(self, operator_of, as_operator):
        auditor, hq = operator_of("auditor"), operator_of("hq_admin")
        checked = as_operator(auditor, "audit")
        assert checked.exit_code == 0, checked.err
        assert checked.out.startswith("audit clean")
        assert auditor.password not in checked.out + checked.err
        refused = as_operator(hq, "audit")
        assert "may not check the ledger: needs auditor" in refused.err


class TestDailyDigest:
    def test_hq_clearing_and_auditors_read_it_a_merchant_admin_may_not(
            self, operator_of, as_operator):
        """Each allowed role runs it to the end on its own grants (members, cards, terminal
        batches, the journal: migration 037), whatever the day holds."""
        daily = ("report", "daily", "--alliance", ALLIANCE, "--date", "2026-11-22", "--json")
        for role in ("hq_admin", "clearing", "auditor"):
            read = as_operator(operator_of(role), *daily)
            assert read.exit_code == 0, (role, read.err)
            digest = json.loads(read.out)
            assert (digest["alliance"], digest["members_active"]) == (ALLIANCE, 0)
        refused = as_operator(operator_of("merchant_admin"), *daily)
        assert refused.exit_code == 2
        assert ("may not read the daily digest: needs hq admin or clearing operator or "
                "auditor") in refused.err
