"""`jifen audit` over partitions (docs/plans/partitions.md §2): every check on each partition's
database, in a snapshot of its own, reported per partition; then the checks across partitions
(partitions.py), inside those same snapshots.

All the partitions' transactions are open at once, each REPEATABLE READ READ ONLY, so that the
checks across partitions see what each partition's own checks saw. A partition that cannot be
read fails the audit (an AuditError naming it): an audit that skipped one would say clean
without having looked.
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack

import anyio
import asyncpg
import msgspec

from back_office.ledger_check.errors import AuditDatabaseError, AuditTimeoutError
from back_office.ledger_check.liability import summed
from back_office.ledger_check.partitions import across_partitions
from back_office.ledger_check.result import AuditReport, CheckResult, PointsLiability
from back_office.ledger_check.runner import (
    AUDIT_TIMEOUT_S_DEFAULT,
    CHECKS,
    PartitionRead,
    audit_snapshot,
)
from database.connect import connect
from database.errors import DatabaseUnavailableError

CENTRAL_NUMBER = 0
# Closing a connection at the end: a moment; a server that does not answer is let go.
CLOSE_TIMEOUT_S = 5.0


class AuditTarget(msgspec.Struct, frozen=True):
    """A partition to audit: its name and number (central's is 0) and its URL as jifen_audit."""

    name: str
    number: int
    url: str


class PartitionAudit(msgspec.Struct, frozen=True):
    name: str
    number: int
    report: AuditReport


class PartitionedAuditReport(msgspec.Struct, frozen=True):
    clean: bool
    violation_count: int
    partitions: list[PartitionAudit]
    across: list[CheckResult]         # the checks across partitions ([] with --partition)
    elapsed_s: float
    # Each alliance's points outstanding, every partition's added up (liability.py).
    liabilities: list[PointsLiability] = msgspec.field(default_factory=list)
    # What the checks marked `warning` found: listed, not counted in violation_count.
    warning_count: int = 0


async def audit_partitions(
    targets: list[AuditTarget], *, only: str | None = None, connect_timeout_s: float = 10.0,
    timeout_s: float = AUDIT_TIMEOUT_S_DEFAULT,
) -> PartitionedAuditReport:
    """Audit each target (or the one named `only`, without the checks across partitions)."""
    chosen = [t for t in targets if only is None or t.name == only]
    assert chosen, "the caller checks that the partition named exists"
    started = time.perf_counter()
    try:
        with anyio.fail_after(timeout_s):
            async with AsyncExitStack() as stack:
                snapshots: dict[str, asyncpg.Connection] = {}
                audits = []
                for target in chosen:
                    connection = await _connected(target, connect_timeout_s, stack)
                    await stack.enter_async_context(connection.transaction(
                        isolation="repeatable_read", readonly=True))
                    snapshots[target.name] = connection
                    audits.append(PartitionAudit(target.name, target.number, await _audit(
                        connection, target)))
                across: list[CheckResult] = []
                if only is None:
                    central = next(t.name for t in chosen if t.number == CENTRAL_NUMBER)
                    across = await across_partitions(snapshots, central)
    except TimeoutError as exc:
        raise AuditTimeoutError(
            f"the audit of {len(chosen)} partitions did not finish within {timeout_s:g} s"
        ) from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise AuditDatabaseError(f"the checks across partitions failed: {exc}") from exc
    violations = (sum(a.report.violation_count for a in audits)
                  + sum(check.violation_count for check in across if not check.warning))
    return PartitionedAuditReport(violations == 0, violations, audits, across,
                                  time.perf_counter() - started,
                                  summed(audit.report.liabilities for audit in audits),
                                  sum(check.violation_count for check in across
                                      if check.warning))


async def _connected(
    target: AuditTarget, connect_timeout_s: float, stack: AsyncExitStack,
) -> asyncpg.Connection:
    try:
        connection = await connect(target.url, connect_timeout_s)
    except DatabaseUnavailableError as exc:
        raise AuditDatabaseError(f"partition {target.name}: {exc}") from exc
    stack.push_async_callback(_close, connection)
    return connection


async def _close(connection: asyncpg.Connection) -> None:
    with anyio.CancelScope(shield=True):
        await connection.close(timeout=CLOSE_TIMEOUT_S)


async def _audit(connection: asyncpg.Connection, target: AuditTarget) -> AuditReport:
    try:
        return await audit_snapshot(connection, CHECKS,
                                    PartitionRead(target.name, target.number))
    except asyncpg.UndefinedTableError as exc:
        raise AuditDatabaseError(f"partition {target.name} has no Jifen schema ({exc}): run"
                                 " `jifen db migrate`") from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise AuditDatabaseError(f"auditing partition {target.name} failed: {exc}") from exc
