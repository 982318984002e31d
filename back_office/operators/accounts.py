"""Operators: create, list, disable, enable, set a password (migration 011's functions).

An operator is a PostgreSQL LOGIN role of its own name, member of its role's group, and a row
of `operators`; the functions operator_create / operator_set_active / operator_set_password
(SECURITY DEFINER, owned by jifen_operator_admin) keep the two together and write the audit
row. A password leaves this process only as a SCRAM verifier (passwords.scram_verifier).
"""

from __future__ import annotations

import re
from datetime import datetime

import asyncpg
import msgspec

from back_office.operators.errors import OperatorNotFoundError
from back_office.operators.passwords import check_password, scram_verifier
from back_office.operators.roles import OperatorRole
from back_office.provisioning.errors import DuplicateError, InvalidValueError, NotFoundError

# As operators.name's CHECK: a PostgreSQL role name that is not one of ours nor the server's.
OPERATOR_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{2,39}$")
RESERVED_PREFIXES = ("jifen", "pg_", "postgres")


class Operator(msgspec.Struct, frozen=True):
    name: str
    role: OperatorRole
    merchant_code: str | None
    active: bool
    created_at: datetime
    created_by: str
    password_changed_at: datetime


_SELECT = (
    "SELECT o.name, o.role, m.merchant_code, o.active, o.created_at, o.created_by,"
    " o.password_changed_at FROM operators o LEFT JOIN merchants m ON m.id = o.merchant_id"
)


def _operator(row: asyncpg.Record) -> Operator:
    return Operator(**{**dict(row), "role": OperatorRole(row["role"])})


def operator_name(name: str) -> str:
    if not OPERATOR_NAME_PATTERN.match(name) or name.startswith(RESERVED_PREFIXES):
        raise InvalidValueError(
            f"operator name {name!r} must be 3-40 lower-case letters, digits or '_', starting "
            f"with a letter, and not start with {', '.join(RESERVED_PREFIXES)}")
    return name


async def create_operator(
    conn: asyncpg.Connection, name: str, role: OperatorRole, merchant_code: str | None,
    password: str,
) -> Operator:
    operator_name(name)
    if (role is OperatorRole.MERCHANT_ADMIN) != (merchant_code is not None):
        raise InvalidValueError("a merchant admin needs --merchant, and only a merchant admin "
                                "has one")
    verifier = scram_verifier(check_password(password))
    try:
        async with conn.transaction():
            await conn.execute("SELECT operator_create($1, $2, $3, $4)",
                               name, role.value, merchant_code, verifier)
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateError(f"operator {name} already exists") from exc
    except asyncpg.DuplicateObjectError as exc:
        raise DuplicateError(f"a database role named {name} exists already: choose another "
                             f"name") from exc
    except asyncpg.NoDataFoundError as exc:
        raise NotFoundError(f"no merchant {merchant_code}; `jifen merchant list` shows them") \
            from exc
    return await find_operator(conn, name)


async def set_operator_active(conn: asyncpg.Connection, name: str, active: bool) -> Operator:
    """Disabled: the login role is NOLOGIN (new connections refused) and the row inactive."""
    try:
        async with conn.transaction():
            await conn.execute("SELECT operator_set_active($1, $2)", name, active)
    except asyncpg.NoDataFoundError as exc:
        raise OperatorNotFoundError(f"no operator {name}; `jifen operator list` shows them") \
            from exc
    return await find_operator(conn, name)


async def set_operator_password(conn: asyncpg.Connection, name: str, password: str) -> None:
    verifier = scram_verifier(check_password(password))
    try:
        async with conn.transaction():
            await conn.execute("SELECT operator_set_password($1, $2)", name, verifier)
    except asyncpg.NoDataFoundError as exc:
        raise OperatorNotFoundError(f"no operator {name}; `jifen operator list` shows them") \
            from exc


async def list_operators(conn: asyncpg.Connection) -> list[Operator]:
    """Every operator for an HQ admin or an auditor; an operator of another role sees its own
    row (row-level security)."""
    rows = await conn.fetch(f"{_SELECT} ORDER BY o.name")
    return [_operator(row) for row in rows]


async def find_operator(conn: asyncpg.Connection, name: str) -> Operator:
    row = await conn.fetchrow(f"{_SELECT} WHERE o.name = $1", name)
    if row is None:
        raise OperatorNotFoundError(f"no operator {name}; `jifen operator list` shows them")
    return _operator(row)


async def current_operator(conn: asyncpg.Connection) -> Operator:
    """The operator this connection logged in as."""
    row = await conn.fetchrow(f"{_SELECT} WHERE o.name = current_user")
    if row is None:
        raise OperatorNotFoundError("this database login is no operator (not in `operators`)")
    return _operator(row)
