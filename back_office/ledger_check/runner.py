"""Running the checks: one read-only REPEATABLE READ transaction, so that every check sees the
same snapshot while the host keeps writing, and nothing the audit does can change a row."""

from __future__ import annotations

import time

import anyio
import asyncpg
import msgspec

from back_office.ledger_check import (
    balances,
    commands,
    gifts,
    idempotency,
    journal,
    liability,
    lots,
    originals,
    references,
    standings,
    terminals,
)
from back_office.ledger_check.check import Check
from back_office.ledger_check.errors import AuditDatabaseError, AuditTimeoutError
from back_office.ledger_check.result import AuditReport, CheckResult, RowCounts, Violation
from database.connect import connect, redact_url
from database.errors import DatabaseUnavailableError

CHECKS: tuple[Check, ...] = (
    *journal.CHECKS, *references.CHECKS, *balances.CHECKS, *originals.CHECKS,
    *idempotency.CHECKS, *terminals.CHECKS, *commands.CHECKS, *gifts.CHECKS, *lots.CHECKS,
    *standings.CHECKS,
)
# Violations listed per check (all are counted): enough to start from, not a flood.
VIOLATIONS_LISTED_MAX = 100
# The aggregates over postings hash millions of groups; 4 MB (the default) spills them to disk.
WORK_MEM_MB = 256
# 10^7 postings take well under a minute on 2 cores; far more means something is wrong.
AUDIT_TIMEOUT_S_DEFAULT = 600.0

COUNTS_SQL = """
SELECT (SELECT count(*) FROM transactions) AS transactions,
       (SELECT count(*) FROM journal_entries) AS entries,
       (SELECT count(*) FROM postings) AS postings,
       (SELECT count(*) FROM accounts) AS accounts
"""


class PartitionRead(msgspec.Struct, frozen=True):
    """Which partition a snapshot is of: its checks read it from the transaction's settings."""

    name: str
    number: int


async def audit_connection(
    connection: asyncpg.Connection, checks: tuple[Check, ...] = CHECKS
) -> AuditReport:
    """Every check on one snapshot; the connection must not be inside a transaction."""
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        return await audit_snapshot(connection, checks)


async def audit_snapshot(
    connection: asyncpg.Connection, checks: tuple[Check, ...] = CHECKS,
    partition: PartitionRead | None = None,
) -> AuditReport:
    """Every check inside the caller's REPEATABLE READ READ ONLY transaction; of a partition
    but central's, only the checks that are not `central_only`."""
    started = time.perf_counter()
    results = []
    await connection.execute(f"SET LOCAL work_mem = '{WORK_MEM_MB}MB'")
    if partition is not None:
        await connection.execute("SELECT set_config('jifen.partition_name', $1, true),"
                                 " set_config('jifen.partition_number', $2, true)",
                                 partition.name, str(partition.number))
    counts_row = await connection.fetchrow(COUNTS_SQL)
    assert counts_row is not None, "an aggregate gives one row"
    counts = RowCounts(**dict(counts_row))
    for check in checks:
        if check.central_only and partition is not None and partition.number != 0:
            continue
        results.append(await run_check(connection, check))
    liabilities = await liability.points_liability(connection)
    violation_count = sum(result.violation_count for result in results)
    return AuditReport(clean=violation_count == 0, violation_count=violation_count,
                       counts=counts, checks=results, elapsed_s=time.perf_counter() - started,
                       liabilities=liabilities)


async def run_check(connection: asyncpg.Connection, check: Check) -> CheckResult:
    started = time.perf_counter()
    rows = await connection.fetch(
        f"SELECT v.*, count(*) OVER () AS violations_total FROM ({check.sql}) AS v "
        f"ORDER BY 1, 2 LIMIT {VIOLATIONS_LISTED_MAX}"
    )
    violations = []
    for row in rows:
        ids = {name: value for name, value in row.items()
               if name not in ("detail", "violations_total")}
        violations.append(Violation(check.name, ids, row["detail"]))
    total = rows[0]["violations_total"] if rows else 0
    return CheckResult(check.name, check.description, total, violations,
                       time.perf_counter() - started)


async def audit_database(
    url: str, *, connect_timeout_s: float = 10.0,
    timeout_s: float = AUDIT_TIMEOUT_S_DEFAULT,
) -> AuditReport:
    """Connect, audit, disconnect; a database that cannot be read is an AuditError."""
    try:
        with anyio.fail_after(timeout_s):
            connection = await connect(url, connect_timeout_s)
            try:
                return await audit_connection(connection)
            finally:
                with anyio.CancelScope(shield=True):
                    await connection.close(timeout=connect_timeout_s)
    except TimeoutError as exc:
        raise AuditTimeoutError(
            f"the audit of {redact_url(url)} did not finish within {timeout_s:g} s") from exc
    except DatabaseUnavailableError as exc:
        raise AuditDatabaseError(str(exc)) from exc
    except asyncpg.UndefinedTableError as exc:
        raise AuditDatabaseError(
            f"{redact_url(url)} has no Jifen schema ({exc}): run `jifen db migrate`") from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise AuditDatabaseError(f"auditing {redact_url(url)} failed: {exc}") from exc
