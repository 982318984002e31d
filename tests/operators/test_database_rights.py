"""Over SQL, with the operator's own login (as anyone with its password and psql would): the
grants and row-level security of migration 011 hold without the CLI."""

from __future__ import annotations

import asyncpg
import pytest

from back_office.operators import scram_verifier
from tests.operators.conftest import MERCHANT_A, MERCHANT_B

ROLES = ("hq_admin", "card_service", "merchant_admin", "clearing", "auditor")
JOURNAL_CHANGES = (
    "INSERT INTO transactions DEFAULT VALUES",
    "INSERT INTO journal_entries DEFAULT VALUES",
    "INSERT INTO postings DEFAULT VALUES",
    "INSERT INTO accounts DEFAULT VALUES",
    "UPDATE accounts SET balance = balance + 1",
    "DELETE FROM postings",
)


@pytest.mark.parametrize("role", ROLES)
def test_no_operator_writes_the_journal_or_balances(role, operator_of, sql_as):
    operator = operator_of(role)
    for statement in JOURNAL_CHANGES:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            sql_as(operator.url, statement)


@pytest.mark.parametrize("role", ROLES)
def test_no_operator_forges_an_audit_row(role, operator_of, sql_as):
    operator = operator_of(role)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        sql_as(operator.url, "INSERT INTO audit_log (actor, action, object_kind, object_key)"
                             " VALUES ('someone_else', 'x.y', 'x', 'k')")


def test_card_service_cannot_create_merchants(operator_of, sql_as):
    cards = operator_of("card_service")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        sql_as(cards.url, "INSERT INTO merchants (merchant_code, alliance_id, name)"
                          " SELECT 'OPSMERCHANT0009', id, 'x' FROM alliances")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        sql_as(cards.url, "UPDATE terminals SET requires_mac = false")


def test_a_merchant_admin_sees_only_its_merchant(operator_of, sql_as):
    admin = operator_of("merchant_admin", MERCHANT_A)

    def values(query: str) -> list[object]:
        return [row[0] for row in sql_as(admin.url, query)]

    assert values("SELECT merchant_code FROM merchants") == [MERCHANT_A]
    assert values("SELECT m.merchant_code FROM terminals t"
                  " JOIN merchants m ON m.id = t.merchant_id") == [MERCHANT_A]
    # MERCHANT_B's own rule is not for it to read.
    assert values("SELECT count(*) FROM settlement_rules") == [0]
    assert values("SELECT count(*) FROM merchants WHERE merchant_code = "
                  f"'{MERCHANT_B}'") == [0]
    assert set(values("SELECT m.merchant_code FROM audit_log l"
                      " JOIN merchants m ON m.id = l.merchant_id")) == {MERCHANT_A}
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        sql_as(admin.url, "UPDATE merchants SET name = 'mine'")


def test_a_merchant_admin_cannot_widen_its_view(operator_of, run_async):
    """Neither a session setting nor SET ROLE to the group role shows another merchant."""
    admin = operator_of("merchant_admin", MERCHANT_A)

    async def counts() -> tuple[int, int, int]:
        conn = await asyncpg.connect(admin.url)
        try:
            await conn.execute("SET jifen.merchant_id = '0'; SET jifen.operator = 'postgres'")
            merchants = await conn.fetchval("SELECT count(*) FROM merchants")
            operators = await conn.fetchval("SELECT count(*) FROM operators")
            await conn.execute("SET ROLE jifen_op_merchant_admin")
            as_group = await conn.fetchval("SELECT count(*) FROM merchants")
            return merchants, operators, as_group
        finally:
            await conn.close()

    # Its merchant; its own operators row and no one else's; nothing as the bare group.
    assert run_async(counts) == (1, 1, 0)


def test_the_other_roles_read_every_merchant(operator_of, sql_as):
    for role in ("hq_admin", "clearing", "auditor"):
        operator = operator_of(role)
        assert sql_as(operator.url, "SELECT count(*) FROM merchants")[0][0] == 2, role


def test_only_hq_admins_manage_operators(operator_of, sql_as):
    verifier = scram_verifier("a-password-long-enough")
    for role in ("card_service", "merchant_admin", "clearing", "auditor"):
        operator = operator_of(role)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            sql_as(operator.url, "SELECT operator_create('intruder_x', 'hq_admin', NULL, $1)",
                   verifier)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            sql_as(operator.url, "CREATE ROLE intruder_y LOGIN")
    cards, auditor = operator_of("card_service"), operator_of("auditor")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="only an HQ admin"):
        sql_as(cards.url, "SELECT operator_set_password($1, $2)", auditor.name, verifier)
    hq = operator_of("hq_admin")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        sql_as(hq.url, "CREATE ROLE intruder_z LOGIN")   # only through operator_create


def test_an_operator_password_reaches_the_server_only_as_a_verifier(operator_of, sql_as):
    hq = operator_of("hq_admin")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="SCRAM-SHA-256 verifier"):
        sql_as(hq.url, "SELECT operator_set_password($1, 'clear-text-password')", hq.name)


def test_operator_functions_cannot_touch_other_roles(operator_of, sql_as):
    """operator_set_active and operator_set_password act on operators only: not on a
    service's login role (which no operators row names)."""
    hq = operator_of("hq_admin")
    with pytest.raises(asyncpg.NoDataFoundError):
        sql_as(hq.url, "SELECT operator_set_active('postgres', false)")
    with pytest.raises(asyncpg.NoDataFoundError):
        sql_as(hq.url, "SELECT operator_set_password('jifen_host_login', $1)",
               scram_verifier("a-password-long-enough"))
