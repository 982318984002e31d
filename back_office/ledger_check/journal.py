"""Journal entries: each sums to zero, and posts only to accounts of its own ledger."""

from __future__ import annotations

from back_office.ledger_check.check import Check

ENTRY_UNBALANCED = Check(
    name="entry_unbalanced",
    description="the postings of a journal entry sum to zero",
    sql="""
        SELECT e.id AS entry_id, e.transaction_id,
               format('postings sum to %s in the %s ledger, not 0', s.total, e.ledger)
                   AS detail
        FROM (SELECT entry_id, sum(amount) AS total FROM postings GROUP BY entry_id) AS s
        JOIN journal_entries AS e ON e.id = s.entry_id
        WHERE s.total <> 0
    """,
)

POSTING_WRONG_LEDGER = Check(
    name="posting_wrong_ledger",
    description="a posting's account is in its entry's ledger",
    sql="""
        SELECT p.entry_id, p.account_id,
               format('account (%s, %s ledger) posted %s in an entry of the %s ledger',
                      a.kind, a.ledger, p.amount, e.ledger) AS detail
        FROM postings AS p
        JOIN accounts AS a ON a.id = p.account_id
        JOIN journal_entries AS e ON e.id = p.entry_id
        WHERE a.ledger <> e.ledger
    """,
)

CHECKS = (ENTRY_UNBALANCED, POSTING_WRONG_LEDGER)
