"""`transit_unbalanced`, a check across partitions: the in-transit accounts of transfers between
partitions (docs/transfers.md) hold only what transfers in flight carry.

Each partition sums its in-transit postings by transfer, through its own rows (the posting's
transaction names its command, whose row in the partition's copy names the transfer), so a
posting whose transfer central has not seen decided yet is still attributed. Central says which
transfers are final. Then:

- a final transfer's in-transit postings, added over every partition, are zero (credited: the
  debit's +n at the source and the credit's -n at the destination; voided: the debit and the
  void; refused: none);
- a stuck one (its void refused) is reported: points wait in transit for an operator;
- an in-transit posting that belongs to no transfer's step is reported;
- open ones are in flight: not a finding.

Central's snapshot is taken before the others' (the audit opens partitions by number, central
first), so a transfer final there has every step's postings in the partitions' snapshots.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import asyncpg

from back_office.ledger_check.result import CheckResult, Violation
from back_office.ledger_check.runner import VIOLATIONS_LISTED_MAX

TRANSIT_UNBALANCED = "transit_unbalanced"

# Through the in-transit accounts (a few per partition) and postings' index on account_id: in
# proportion to the transfers ever made, not to the journal.
_SUMS_SQL = """
SELECT h.transfer_id, a.ledger, sum(p.amount)::bigint AS amount, count(*) AS postings
FROM accounts a
JOIN postings p ON p.account_id = a.id
JOIN journal_entries e ON e.id = p.entry_id
JOIN transactions t ON t.id = e.transaction_id
LEFT JOIN host_commands h ON h.id = t.command_id AND h.transfer_id IS NOT NULL
WHERE a.kind IN ('alliance_points_in_transit', 'alliance_stored_value_in_transit')
GROUP BY h.transfer_id, a.ledger
"""
_STATES_SQL = """
SELECT id, state FROM transfers WHERE id = ANY($1::bigint[]) OR state = 'stuck'
"""
_FINAL = frozenset({"refused", "credited", "voided"})


async def transit_unbalanced(
    snapshots: Mapping[str, asyncpg.Connection], central: str,
) -> CheckResult:
    started = time.perf_counter()
    sums: dict[tuple[int | None, str], dict[str, int]] = {}
    for name, connection in snapshots.items():
        for row in await connection.fetch(_SUMS_SQL):
            sums.setdefault((row["transfer_id"], row["ledger"]), {})[name] = row["amount"]
    transfer_ids = sorted({transfer_id for transfer_id, _ in sums if transfer_id is not None})
    states = {row["id"]: row["state"]
              for row in await snapshots[central].fetch(_STATES_SQL, transfer_ids)}
    violations = []
    for (transfer_id, ledger), parts in sorted(sums.items(), key=lambda item: (
            item[0][0] or 0, item[0][1])):
        shares = ", ".join(f"{name} {amount:+d}" for name, amount in sorted(parts.items()))
        total: int = sum(parts.values())
        if transfer_id is None:
            violations.append(Violation(TRANSIT_UNBALANCED, {"ledger": ledger},
                                        f"in-transit postings of no transfer: {shares}"))
        elif states.get(transfer_id) in _FINAL and total:
            violations.append(Violation(
                TRANSIT_UNBALANCED, {"transfer_id": transfer_id, "ledger": ledger},
                f"transfer {transfer_id} is {states[transfer_id]} but its in-transit postings"
                f" sum to {total} ({shares})"))
    for transfer_id, state in sorted(states.items()):
        if state == "stuck":
            violations.append(Violation(
                TRANSIT_UNBALANCED, {"transfer_id": transfer_id},
                f"transfer {transfer_id} is stuck (its void refused): its points wait in"
                " transit for an operator"))
    return CheckResult(TRANSIT_UNBALANCED,
                       "a finished transfer's in-transit postings cancel over the partitions",
                       len(violations), violations[:VIOLATIONS_LISTED_MAX],
                       time.perf_counter() - started)
