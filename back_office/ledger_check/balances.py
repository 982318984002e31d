"""Account balances: each equals the sum of its postings, and no member's stored value is
below zero (a stored-value debit is declined 51 rather than overdraw)."""

from __future__ import annotations

from back_office.ledger_check.check import Check

MEMBER_STORED_VALUE = "member_stored_value"

BALANCE_MISMATCH = Check(
    name="balance_mismatch",
    description="an account's balance equals the sum of its postings",
    sql="""
        SELECT a.id AS account_id,
               format('balance %s, but its postings sum to %s (%s, %s ledger)',
                      a.balance, coalesce(s.total, 0), a.kind, a.ledger) AS detail
        FROM accounts AS a
        LEFT JOIN (SELECT account_id, sum(amount) AS total FROM postings GROUP BY account_id)
            AS s ON s.account_id = a.id
        WHERE a.balance <> coalesce(s.total, 0)
    """,
)

STORED_VALUE_NEGATIVE = Check(
    name="stored_value_negative",
    description="no member's stored-value balance is below zero",
    sql=f"""
        SELECT a.id AS account_id, a.card_id,
               format('stored-value balance %s fen', a.balance) AS detail
        FROM accounts AS a
        WHERE a.kind = '{MEMBER_STORED_VALUE}' AND a.balance < 0
    """,
)

CHECKS = (BALANCE_MISMATCH, STORED_VALUE_NEGATIVE)
