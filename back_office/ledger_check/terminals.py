"""Every transaction came from a registered terminal of its own merchant (ISO fields 41 and 42).

The host refuses a request whose terminal is not registered (58) or whose field 42 is not that
terminal's merchant (03), so a journal row that breaks this was written past those checks: by a
host that trusted a forged link frame, or by hand. Terminals are never deleted nor moved to
another merchant (back_office/provisioning/terminals.py), and one deactivated later keeps its
transactions, so activity is not compared.
"""

from __future__ import annotations

from back_office.ledger_check.check import Check

TERMINAL_MISMATCH = Check(
    name="terminal_mismatch",
    description=("every transaction from a terminal names a registered terminal of its"
                 " merchant"),
    sql="""
        SELECT t.id AS transaction_id,
               CASE WHEN r.terminal_code IS NULL
                    THEN format('terminal %s is not registered', t.terminal_code)
                    ELSE format('terminal %s belongs to merchant %s, not to merchant %s',
                                t.terminal_code, r.merchant_id, t.merchant_id)
               END AS detail
        FROM transactions AS t
        LEFT JOIN terminals AS r ON r.terminal_code = t.terminal_code
        WHERE t.terminal_code IS NOT NULL
          AND (r.terminal_code IS NULL OR r.merchant_id <> t.merchant_id)
    """,
)

CHECKS = (TERMINAL_MISMATCH,)
