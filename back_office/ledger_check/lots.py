"""Expiring points (migration 025): a points account's lots never hold more than its balance
above zero, its soonest day is the one indexed for the nightly expiry, and an expiry booked
exactly the lots it removed."""

from __future__ import annotations

from back_office.ledger_check.check import Check

# The lots of an account as rows (day, points): 8 bytes each, the day above bit 40.
_LOTS = """
    SELECT ((('x' || encode(substring(a.lots FROM i FOR 8), 'hex'))::bit(64)::bigint) >> 40)
               AS day,
           (('x' || encode(substring(a.lots FROM i FOR 8), 'hex'))::bit(64)::bigint)
               & ((1::bigint << 40) - 1) AS points
    FROM generate_series(1, length(a.lots), 8) AS i
"""

LOTS_BEYOND_BALANCE = Check(
    name="lots_beyond_balance",
    description=("a points account's lots hold at most its balance above zero, and its"
                 " soonest lot's day is the one indexed for expiry"),
    sql=f"""
        SELECT a.id AS account_id,
               format('lots of %s points, first ending %s (indexed %s), on a balance of %s',
                      l.total, date '0001-01-01' + (l.first_day::integer - 1),
                      a.lots_expire_first, a.balance) AS detail
        FROM accounts AS a
        CROSS JOIN LATERAL (SELECT sum(points) AS total, min(day) AS first_day
                            FROM ({_LOTS}) AS lot) AS l
        WHERE a.lots IS NOT NULL
          AND (l.total > greatest(a.balance, 0)
               OR date '0001-01-01' + (l.first_day::integer - 1) <> a.lots_expire_first)
    """,
)

EXPIRY_NOT_ITS_MOVES = Check(
    name="expiry_not_its_moves",
    description="an expiry books exactly the points of the lots it removed",
    sql="""
        SELECT t.id AS transaction_id,
               format('expiry of %s points removed lots of %s', -t.points,
                      coalesce(-m.moved, 0)) AS detail
        FROM transactions AS t
        LEFT JOIN LATERAL (
            SELECT sum((('x' || encode(substring(t.lot_moves FROM i + 4 FOR 8), 'hex'))
                        ::bit(64)::bigint)) AS moved
            FROM generate_series(1, length(t.lot_moves), 12) AS i) AS m ON true
        WHERE t.kind = 'points_expiry' AND (t.points >= 0 OR m.moved IS DISTINCT FROM t.points)
    """,
)

CHECKS = (LOTS_BEYOND_BALANCE, EXPIRY_NOT_ITS_MOVES)
