"""Transactions that refer to an original: reversals and returns have one, an original is
reversed at most once, and the returns of a purchase do not exceed its amount."""

from __future__ import annotations

from back_office.ledger_check.check import Check

REVERSAL = "reversal"
RETURN = "return"

ORIGINAL_MISSING = Check(
    name="original_missing",
    description="every reversal and return refers to an existing original transaction",
    sql=f"""
        SELECT t.id AS transaction_id, t.original_transaction_id,
               CASE WHEN t.original_transaction_id IS NULL
                    THEN format('%s without an original', t.kind)
                    ELSE format('%s of transaction %s, which does not exist',
                                t.kind, t.original_transaction_id)
               END AS detail
        FROM transactions AS t
        LEFT JOIN transactions AS o ON o.id = t.original_transaction_id
        WHERE t.kind IN ('{REVERSAL}', '{RETURN}') AND o.id IS NULL
    """,
)

REVERSED_MORE_THAN_ONCE = Check(
    name="reversed_more_than_once",
    description="an original transaction is reversed at most once",
    sql=f"""
        SELECT original_transaction_id,
               format('reversed %s times, by transactions %s',
                      count(*), string_agg(id::text, ', ' ORDER BY id)) AS detail
        FROM transactions
        WHERE kind = '{REVERSAL}' AND original_transaction_id IS NOT NULL
        GROUP BY original_transaction_id
        HAVING count(*) > 1
    """,
)

# A reversed return gives its amount back: only returns still standing count.
RETURNS_EXCEED_ORIGINAL = Check(
    name="returns_exceed_original",
    description="the returns of a purchase (not reversed) total at most its amount",
    sql=f"""
        SELECT o.id AS original_transaction_id,
               format('returns %s total %s, above the original amount %s',
                      string_agg(r.id::text, ', ' ORDER BY r.id), sum(r.amount), o.amount)
                   AS detail
        FROM transactions AS r
        JOIN transactions AS o ON o.id = r.original_transaction_id
        WHERE r.kind = '{RETURN}'
          AND NOT EXISTS (SELECT 1 FROM transactions AS v
                          WHERE v.kind = '{REVERSAL}' AND v.original_transaction_id = r.id)
        GROUP BY o.id, o.amount
        HAVING sum(r.amount) > o.amount
    """,
)

CHECKS = (ORIGINAL_MISSING, REVERSED_MORE_THAN_ONCE, RETURNS_EXCEED_ORIGINAL)
