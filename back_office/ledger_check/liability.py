"""The points liability: what each alliance owes its members in points, summed from the
journal itself, the members' side (every posting on a member's points account, by its card's
alliance, and on the alliance's in-transit accounts: points between two partitions' cards are
owed too). Not a check but a figure the audit reports beside its checks, so that the daily
digest's liability (clearing/digest/, read from the counter accounts on indexes, which leave
in-transit out) has an independent figure to agree with: the two sides of a ledger whose
entries sum to zero.

With partitions each partition's figure is its own members'; the audit adds them up.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from back_office.ledger_check.result import PointsLiability

# One pass over the postings, like balance_mismatch's; the member accounts by their kind, and
# the points in transit between partitions (owed to a member: the giver, or the taker), whose
# accounts are the alliance's.
LIABILITY_SQL = """
SELECT l.code AS alliance, sum(p.amount)::bigint AS points
FROM postings AS p
JOIN accounts AS a ON a.id = p.account_id
LEFT JOIN cards AS c ON c.id = a.card_id
JOIN alliances AS l ON l.id = coalesce(c.alliance_id, a.alliance_id)
WHERE a.kind IN ('member_points', 'alliance_points_in_transit')
GROUP BY l.code
ORDER BY l.code
"""


async def points_liability(connection: asyncpg.Connection) -> list[PointsLiability]:
    """Per alliance with member points, the sum of their postings; inside the snapshot."""
    return [PointsLiability(row["alliance"], row["points"])
            for row in await connection.fetch(LIABILITY_SQL)]


def summed(parts: Iterable[list[PointsLiability]]) -> list[PointsLiability]:
    """The partitions' figures added up, per alliance, by code."""
    totals: dict[str, int] = {}
    for part in parts:
        for liability in part:
            totals[liability.alliance] = totals.get(liability.alliance, 0) + liability.points
    return [PointsLiability(alliance, points) for alliance, points in sorted(totals.items())]
