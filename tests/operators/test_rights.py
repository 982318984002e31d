"""The rights table (back_office/operators/rights.py) alone: its commands exist, its messages
name the right and the roles that have it."""

from __future__ import annotations

import argparse

import pytest

from back_office.operators import COMMAND_RIGHTS, OperatorRole, RightRefusedError, check_right
from back_office.operators.rights import check_password_change
from jifen.cli import build_parser


def _commands() -> set[tuple[str, str | None]]:
    """(command, action) of every `jifen` subcommand the parser knows."""
    found: set[tuple[str, str | None]] = set()
    parser = build_parser()
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for command, sub in action.choices.items():
            subactions = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
            if not subactions:
                found.add((command, None))
            for subaction in subactions:
                found.update((command, name) for name in subaction.choices)
    return found


def test_every_right_names_a_real_command():
    assert set(COMMAND_RIGHTS) <= _commands(), set(COMMAND_RIGHTS) - _commands()


def test_the_installer_commands_are_no_operators():
    for installer_only in (("db", "migrate"), ("up", None), ("demo", None), ("host", None)):
        assert installer_only not in COMMAND_RIGHTS


def test_a_refusal_names_the_right_and_who_has_it():
    with pytest.raises(RightRefusedError) as refused:
        check_right("alice", OperatorRole.CARD_SERVICE, "merchant", "create")
    assert str(refused.value) == ("operator alice (card service) may not create merchants: "
                                  "needs hq admin")
    with pytest.raises(RightRefusedError) as refused:
        check_right("bob", OperatorRole.HQ_ADMIN, "clearing", "verify")
    assert str(refused.value) == ("operator bob (hq admin) may not verify clearing: needs "
                                  "clearing operator or auditor")
    with pytest.raises(RightRefusedError, match="installer's"):
        check_right("bob", OperatorRole.HQ_ADMIN, "db", "migrate")


@pytest.mark.parametrize(("role", "allowed", "refused"), [
    (OperatorRole.HQ_ADMIN, ("merchant", "create"), ("clearing", "run")),
    (OperatorRole.CARD_SERVICE, ("card", "status"), ("terminal", "create")),
    (OperatorRole.MERCHANT_ADMIN, ("merchant", "list"), ("card", "issue")),
    (OperatorRole.CLEARING, ("clearing", "run"), ("settlement-rule", "set")),
    (OperatorRole.AUDITOR, ("audit-log", None), ("operator", "create")),
])
def test_each_role(role, allowed, refused):
    check_right("x", role, *allowed)
    with pytest.raises(RightRefusedError):
        check_right("x", role, *refused)


def test_read_only_roles_change_nothing():
    """An auditor has no right whose command changes data; a merchant admin one only: its
    own merchant's purchase files (issue 19; migration 036's functions check the merchant)."""
    reading = {("alliance", "list"), ("merchant", "list"), ("terminal", "list"),
               ("card-range", "list"), ("settlement-rule", "list"), ("clearing", "verify"),
               ("clearing", "status"), ("clearing", "report"), ("clearing", "settlement-files"),
               ("report", "daily"), ("saf", "list"), ("audit-log", None), ("audit", None),
               ("operator", "list"),
               ("operator", "passwd"), ("member", "show"), ("member", "list"),
               ("member", "find"), ("shop", "list"), ("approval", "list"), ("txn", "find"),
               ("card", "statement"), ("card", "commands"), ("rules", "check"),
               ("rules", "show"), ("rules", "list"), ("lottery", "list"),
               ("lottery", "verify"), ("gift", "list"), ("risk", "limits"),
               ("risk", "queue"), ("risk", "show"), ("transit", "list"),
               ("transit", "show")}
    changing = set(COMMAND_RIGHTS) - reading
    assert ("card", "status") in changing
    for key in changing:
        assert OperatorRole.AUDITOR not in COMMAND_RIGHTS[key].roles, key
        if key != ("import", "purchases"):
            assert OperatorRole.MERCHANT_ADMIN not in COMMAND_RIGHTS[key].roles, key
    assert OperatorRole.MERCHANT_ADMIN in COMMAND_RIGHTS["import", "purchases"].roles


def test_only_an_hq_admin_sets_another_password():
    check_password_change("alice", OperatorRole.CARD_SERVICE, "alice")
    check_password_change("root", OperatorRole.HQ_ADMIN, "alice")
    with pytest.raises(RightRefusedError, match="needs hq admin"):
        check_password_change("bob", OperatorRole.AUDITOR, "alice")
