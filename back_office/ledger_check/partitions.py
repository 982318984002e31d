"""Checks across partitions (docs/plans/partitions.md §2): what no partition can see alone.

Each reads every partition inside the snapshot its own checks ran in (the runner keeps the
transactions open until these are done), so a partition's figures here are those its checks
saw. What most need is small: a few sums per partition, and the cards held outside their own
range; the key split compares every partition's keys as digests, a page at a time.

    ledger_totals_nonzero    a ledger's balances, summed over every partition, are zero
    range_partition_unknown  every card range names a partition (central's table)
    card_in_two_partitions   a card's member accounts hold something in one partition only
    transit_unbalanced       a finished transfer's in-transit postings cancel (transit.py)
    retransmission_key_split a retransmission key is in one partition within 7 days: a
                             warning, not a violation (key_split.py)
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import asyncpg

from back_office.ledger_check.check import Check
from back_office.ledger_check.key_split import key_splits
from back_office.ledger_check.result import CheckResult, Violation
from back_office.ledger_check.runner import VIOLATIONS_LISTED_MAX, run_check
from back_office.ledger_check.transit import transit_unbalanced

LEDGER_TOTALS = "ledger_totals_nonzero"
CARD_IN_TWO = "card_in_two_partitions"
# A card held outside its own range is rare (a move in flight, or a fault): this many are
# compared at most; more is a fault worth reading about before any comparison.
FOREIGN_CARDS_MAX = 100_000

RANGE_PARTITION_UNKNOWN = Check(
    name="range_partition_unknown",
    description="every card range names a partition",
    sql="""
        SELECT r.id AS card_range_id,
               format('card range %s-%s names host %s, which is no partition',
                      r.bin_low, r.bin_high, r.host_name) AS detail
        FROM card_ranges AS r
        WHERE NOT EXISTS (SELECT 1 FROM partitions AS p WHERE p.name = r.host_name)
    """,
    central_only=True,
)

_LEDGER_SUMS_SQL = "SELECT ledger, sum(balance)::bigint AS total FROM accounts GROUP BY ledger"
# The cards whose member accounts hold something here but whose range is another partition's.
_FOREIGN_CARDS_SQL = f"""
SELECT DISTINCT a.card_id
FROM accounts AS a
JOIN cards AS c ON c.id = a.card_id
LEFT JOIN LATERAL range_owner(c.pan_masked) AS o ON true
WHERE a.card_id IS NOT NULL AND a.balance <> 0 AND o.host_name IS DISTINCT FROM $1
ORDER BY a.card_id
LIMIT {FOREIGN_CARDS_MAX}
"""
_HELD_SQL = """
SELECT DISTINCT card_id FROM accounts
WHERE card_id = ANY($1::bigint[]) AND balance <> 0
"""


async def ledger_totals(snapshots: Mapping[str, asyncpg.Connection]) -> CheckResult:
    started = time.perf_counter()
    totals: dict[str, dict[str, int]] = {}
    for name, connection in snapshots.items():
        for row in await connection.fetch(_LEDGER_SUMS_SQL):
            totals.setdefault(row["ledger"], {})[name] = row["total"]
    violations = []
    for ledger, parts in sorted(totals.items()):
        if sum(parts.values()):
            shares = ", ".join(f"{name} {total}" for name, total in parts.items())
            violations.append(Violation(
                LEDGER_TOTALS, {"ledger": ledger},
                f"balances sum to {sum(parts.values())} over the partitions ({shares}), not 0"))
    return CheckResult(LEDGER_TOTALS, "a ledger's balances over every partition sum to zero",
                       len(violations), violations, time.perf_counter() - started)


async def cards_in_two(snapshots: Mapping[str, asyncpg.Connection]) -> CheckResult:
    """Two passes: each partition's cards of another's range that it holds something of, then
    which partitions hold something of those."""
    started = time.perf_counter()
    candidates: set[int] = set()
    for name, connection in snapshots.items():
        candidates.update(row["card_id"] for row in
                          await connection.fetch(_FOREIGN_CARDS_SQL, name))
    holders: dict[int, list[str]] = {}
    if candidates:
        for name, connection in snapshots.items():
            for row in await connection.fetch(_HELD_SQL, sorted(candidates)):
                holders.setdefault(row["card_id"], []).append(name)
    split = sorted(card_id for card_id, names in holders.items() if len(names) > 1)
    violations = [Violation(CARD_IN_TWO, {"card_id": card_id},
                            f"member accounts hold something in {', '.join(holders[card_id])}")
                  for card_id in split[:VIOLATIONS_LISTED_MAX]]
    return CheckResult(CARD_IN_TWO, "a card's member accounts hold something in one partition"
                       " only", len(split), violations, time.perf_counter() - started)


async def across_partitions(
    snapshots: Mapping[str, asyncpg.Connection], central: str,
) -> list[CheckResult]:
    """Every check across partitions; `snapshots` in their open transactions."""
    return [await ledger_totals(snapshots),
            await run_check(snapshots[central], RANGE_PARTITION_UNKNOWN),
            await cards_in_two(snapshots),
            await transit_unbalanced(snapshots, central),
            await key_splits(snapshots)]
