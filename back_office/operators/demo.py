"""The demo's operators: one of each role, for `jifen up` on a fresh install.

Each gets a generated password, written with the others to DEMO_OPERATORS_CSV (mode 0600,
never over an existing file nor through a link), the file `--operator-password-file` reads.
Created in one transaction, the file written last inside it: no file, no operators.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import msgspec

from back_office.operators.accounts import create_operator
from back_office.operators.passwords import generate_password, write_password_csv
from back_office.operators.roles import OperatorRole

DEMO_OPERATORS_CSV = "var/demo-operators.csv"
# (name, role, merchant code): the merchant admin runs the demo's first merchant.
DEMO_OPERATORS = (
    ("demo_hq_admin", OperatorRole.HQ_ADMIN, None),
    ("demo_card_service", OperatorRole.CARD_SERVICE, None),
    ("demo_merchant_admin", OperatorRole.MERCHANT_ADMIN, "DEMO00000000001"),
    ("demo_clearing", OperatorRole.CLEARING, None),
    ("demo_auditor", OperatorRole.AUDITOR, None),
)


class DemoOperators(msgspec.Struct, frozen=True):
    names: list[str]
    roles: list[str]
    csv_path: str

    def describe(self) -> str:
        listed = ", ".join(f"{name} ({role})" for name, role in
                           zip(self.names, self.roles, strict=True))
        return (f"operators {listed}; passwords in {self.csv_path} (keep it private); act as "
                f"one: jifen --operator {self.names[1]} --operator-password-file "
                f"{self.csv_path} card-range list")


async def create_demo_operators(
    conn: asyncpg.Connection, csv_path: str | Path = DEMO_OPERATORS_CSV,
    operators: tuple[tuple[str, OperatorRole, str | None], ...] = DEMO_OPERATORS,
) -> DemoOperators:
    rows: list[tuple[str, str, str, str]] = []
    # Checked first for a clear error; the O_EXCL create at the end is the guarantee.
    if os.path.lexists(csv_path):
        raise FileExistsError(f"{csv_path} exists already: no demo operators created")
    async with conn.transaction():
        for name, role, merchant_code in operators:
            password = generate_password()
            await create_operator(conn, name, role, merchant_code, password)
            rows.append((name, role.value, merchant_code or "", password))
        write_password_csv(csv_path, rows)
    return DemoOperators([name for name, _, _ in operators],
                         [role.spoken for _, role, _ in operators], str(csv_path))
