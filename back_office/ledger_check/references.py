"""References between journal rows: what foreign keys would guard, checked here instead.

The hot tables (postings, journal_entries, transactions, accounts, and tier_standings) have no
foreign keys (migrations/005, 026): the single writer keeps them, and a reference to a missing
row can only be a bug of that writer, which this check names.
"""

from __future__ import annotations

from back_office.ledger_check.check import Check

# (table, referencing column, referenced table): one anti-join each. A transaction's original
# is check `original_missing`'s (originals.py).
_REFERENCES = (
    ("postings", "entry_id", "journal_entries"),
    ("postings", "account_id", "accounts"),
    ("journal_entries", "transaction_id", "transactions"),
    ("transactions", "merchant_id", "merchants"),
    ("transactions", "card_id", "cards"),
    ("accounts", "card_id", "cards"),
    ("accounts", "merchant_id", "merchants"),
    ("accounts", "alliance_id", "alliances"),
    ("tier_standings", "member_id", "members"),
    ("tier_standings", "card_id", "cards"),
    ("tier_standings", "alliance_id", "alliances"),
)
# Postings have a composite key, tier standings their holder; the others are named by id.
_ROW_ID = {"postings": "r.entry_id", "tier_standings": "r.holder"}


def _missing(table: str, column: str, referenced: str) -> str:
    row_id = _ROW_ID.get(table, "r.id")
    return f"""
        SELECT {row_id}::bigint AS row_id,
               format('{table} row %s: {column} %s is not in {referenced}',
                      {row_id}, r.{column}) AS detail
        FROM {table} AS r
        WHERE r.{column} IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM {referenced} AS t WHERE t.id = r.{column})"""


REFERENCE_MISSING = Check(
    name="reference_missing",
    description="every reference between journal rows names an existing row",
    sql="\n        UNION ALL".join(_missing(*reference) for reference in _REFERENCES),
)

CHECKS = (REFERENCE_MISSING,)
