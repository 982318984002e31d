"""Back-office commands and their transactions (migration 018): a command the host carried out
has exactly the transaction that names it, a refused or pending one has none, and a gift
command (migration 021: no card) has none either."""

from __future__ import annotations

from back_office.ledger_check.check import Check

COMMAND_MISMATCH = Check(
    name="command_mismatch",
    description=("a back-office command carried out has the one transaction that names it;"
                 " one refused or pending, or of a gift, has none"),
    sql="""
        SELECT h.id AS command_id, h.transaction_id AS transaction_id,
               format('command %s is %s with transaction %s, but transaction %s names it',
                      h.id, h.state, coalesce(h.transaction_id::text, 'none'),
                      coalesce(t.id::text, 'none')) AS detail
        FROM host_commands AS h
        FULL JOIN (SELECT id, command_id FROM transactions WHERE command_id IS NOT NULL) AS t
               ON t.command_id = h.id
        WHERE h.id IS NULL OR t.id IS DISTINCT FROM h.transaction_id
           OR (h.state = 'done' AND h.card_id IS NOT NULL) <> (t.id IS NOT NULL)
    """,
)

CHECKS = (COMMAND_MISMATCH,)
