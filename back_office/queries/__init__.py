"""Queries (交易查询, 对账单): `jifen txn find` and `jifen card statement`.

One module per query: `transactions` (the journal's approvals), `declines` (requests answered
with anything but 00, from host_requests), `statement` (a card's postings with running
balances) and `statement_render` (table, CSV with a BOM, JSON). `cards` finds a card by its
PAN's keyed hash; `cursor` is the keyset pagination; every query reads in one READ ONLY
transaction (`read_only`), as the audit role. Nothing here writes.
"""

from back_office.queries.cards import CardRef, find_card, open_pan_lookup_key, pan_lookup_hash
from back_office.queries.declines import DeclinedRequest, DeclineFilter, DeclinePage, find_declines
from back_office.queries.errors import InvalidQueryError, NotFoundError, QueryError
from back_office.queries.statement import Statement, StatementLine, card_statement
from back_office.queries.transactions import (
    PAGE_ROWS_DEFAULT,
    PAGE_ROWS_MAX,
    TransactionFilter,
    TransactionPage,
    TransactionRow,
    find_transactions,
)

__all__ = [
    "PAGE_ROWS_DEFAULT", "PAGE_ROWS_MAX", "CardRef", "DeclineFilter", "DeclinePage",
    "DeclinedRequest", "InvalidQueryError", "NotFoundError", "QueryError", "Statement",
    "StatementLine", "TransactionFilter", "TransactionPage", "TransactionRow", "card_statement",
    "find_card", "find_declines", "find_transactions", "open_pan_lookup_key", "pan_lookup_hash",
]
