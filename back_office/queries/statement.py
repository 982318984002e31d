"""`jifen card statement` (对账单): every transaction that moved a card's balances in a range of
business dates, with the running balance of both ledgers (points; stored value in fen) after
each, and the opening and closing balances. Integers throughout, never floats.

The card's two member accounts (member_points, member_stored_value: `accounts`' unique key by
kind and card) lead to their postings in journal order (`postings_account`, migration 013:
(account_id, entry_id) with the amount), each to its entry (business date) and transaction.
One line is one transaction: a stored-value purchase moves both ledgers in one line.
Lines are in the order the host posted them (transaction ids grow with each host's journal).

Row-level security: lines and the opening balance both go through `transactions`, which
carries merchant_id. A merchant admin's policy there (the operators' work) leaves only their
merchant's lines and sums the opening balance over those same lines, so the running balances
stay the sums of what is shown; a statement for a merchant admin is then the card's movements
at that merchant, not the card's balance.

Where the card's points expire, the statement also shows its lots as they stand now (docs/
rules.md, "Expiring points"): how many points can be spent until which day. Not to a merchant
admin, whose statement is not the card's balance.
"""

from __future__ import annotations

from datetime import date, datetime

import asyncpg
import msgspec

from back_office.queries.cards import CardRef
from back_office.queries.errors import InvalidQueryError
from back_office.queries.partitions import (
    NO_OTHER_PARTITIONS,
    OtherPartitions,
    Query,
    narrowed_to_merchant,
    partition_fetch,
)
from back_office.queries.read_only import read_only
from proto.lots import read_lots

# The widest range of business dates a statement spans: a year or so for a person; longer
# ranges are a member data export, not a statement.
STATEMENT_DAYS_MAX = 400
# Lines a statement holds at most; a card with more in its range is asked for a narrower one
# (a busy card makes about ten a day).
STATEMENT_LINES_MAX = 20_000
POINTS_LEDGER = "points"
MONEY_LEDGER = "money"


class StatementLine(msgspec.Struct, frozen=True):
    transaction_id: int
    business_date: date
    posted_at: datetime
    kind: str
    merchant_code: str | None         # None: a back-office change (no terminal)
    terminal_code: str | None         # 41
    rrn: str | None                   # 37
    points: int                       # this line's points, signed
    points_balance: int               # the card's points after it
    stored_value_fen: int             # this line's stored value, fen, signed
    stored_value_balance_fen: int     # the card's stored value after it, fen


class ExpiringPoints(msgspec.Struct, frozen=True):
    last_day: date     # the last local day on which they can be spent
    points: int


class Statement(msgspec.Struct, frozen=True):
    pan_masked: str
    date_from: date
    date_to: date
    opening_points: int
    opening_stored_value_fen: int
    closing_points: int
    closing_stored_value_fen: int
    lines: list[StatementLine]
    expiring: list[ExpiringPoints] = []   # the card's lots now, soonest first


# The card's lots as the host last wrote them; none for a merchant admin, on central or, as
# jifen_merchant_reader, in another partition (see the docstring; pg_has_role says yes to a
# superuser for any role).
_LOTS_SQL = """
SELECT lots FROM accounts
WHERE kind = 'member_points' AND card_id = $1
  AND (current_setting('is_superuser') = 'on'
       OR NOT (pg_has_role(current_user, 'jifen_op_merchant_admin', 'MEMBER')
               OR current_user = 'jifen_merchant_reader'))
"""


# The card's postings with their entry's date and transaction: the member accounts found by
# the accounts' unique key (kind, card_id, ...), their postings in journal order.
_CARD_POSTINGS = """
WITH card_postings AS (
    SELECT e.transaction_id, e.business_date, a.ledger, p.amount
    FROM accounts AS a
    JOIN postings AS p ON p.account_id = a.id
    JOIN journal_entries AS e ON e.id = p.entry_id
    WHERE a.kind IN ('member_points', 'member_stored_value') AND a.card_id = $1
)
"""
# Through transactions (merchant_id: see the docstring), like the lines. Sums as bigint: a
# balance fits (the host keeps each below 10^12), and Python gets an int, not a Decimal.
_OPENING_SQL = _CARD_POSTINGS + """
SELECT coalesce(sum(cp.amount) FILTER (WHERE cp.ledger = 'points'), 0)::bigint AS points,
       coalesce(sum(cp.amount) FILTER (WHERE cp.ledger = 'money'), 0)::bigint AS money
FROM card_postings AS cp
JOIN transactions AS t ON t.id = cp.transaction_id
WHERE cp.business_date < $2
"""
_LINES_SQL = _CARD_POSTINGS + """
SELECT t.id, t.business_date, t.posted_at, t.kind, m.merchant_code, t.terminal_code, t.rrn,
       coalesce(sum(cp.amount) FILTER (WHERE cp.ledger = 'points'), 0)::bigint AS points,
       coalesce(sum(cp.amount) FILTER (WHERE cp.ledger = 'money'), 0)::bigint AS money
FROM card_postings AS cp
JOIN transactions AS t ON t.id = cp.transaction_id
LEFT JOIN merchants AS m ON m.id = t.merchant_id
WHERE cp.business_date BETWEEN $2 AND $3
GROUP BY t.id, m.merchant_code
ORDER BY t.id
LIMIT $4
"""


def check_range(date_from: date, date_to: date) -> None:
    if date_from > date_to:
        raise InvalidQueryError("--from is after --to")
    if (date_to - date_from).days >= STATEMENT_DAYS_MAX:
        raise InvalidQueryError(f"a statement spans at most {STATEMENT_DAYS_MAX} days")


async def card_statement(
    connection: asyncpg.Connection, card: CardRef, date_from: date, date_to: date,
    partitions: OtherPartitions = NO_OTHER_PARTITIONS,
) -> Statement:
    """The statement of `card` for business dates `date_from` to `date_to`, inclusive, over
    central's journal and every other partition's (a moved card's history spans two)."""
    check_range(date_from, date_to)
    queries: list[Query] = [
        (_OPENING_SQL, (card.card_id, date_from)),
        (_LINES_SQL, (card.card_id, date_from, date_to, STATEMENT_LINES_MAX + 1)),
        (_LOTS_SQL, (card.card_id,))]
    async with read_only(connection):
        partitions = await narrowed_to_merchant(connection, partitions)
        opening, records, lots = [await connection.fetch(sql, *arguments)
                                  for sql, arguments in queries]
    parts = [(opening, records, lots)]
    for others in (await partition_fetch(partitions, queries)).values():
        opening_rows, record_rows, lots_rows = others
        parts.append((opening_rows, record_rows, lots_rows))
    return _merged(card, date_from, date_to, parts)


def _merged(
    card: CardRef, date_from: date, date_to: date,
    parts: list[tuple[list[asyncpg.Record], list[asyncpg.Record], list[asyncpg.Record]]],
) -> Statement:
    """One statement of the partitions' reads: openings added, lines in posting order (by
    time, then id, across partitions; by id, as the host posted them, within one)."""
    records = [record for _, lines, _ in parts for record in lines]
    if len(parts) > 1:
        records.sort(key=lambda record: (record["posted_at"], record["id"]))
    if len(records) > STATEMENT_LINES_MAX:
        raise InvalidQueryError(f"more than {STATEMENT_LINES_MAX} lines: a narrower range")
    opening_points = sum(opening[0]["points"] for opening, _, _ in parts)
    opening_money = sum(opening[0]["money"] for opening, _, _ in parts)
    points, money = opening_points, opening_money
    lines = []
    for record in records:
        points += record["points"]
        money += record["money"]
        lines.append(StatementLine(
            record["id"], record["business_date"], record["posted_at"], record["kind"],
            record["merchant_code"], record["terminal_code"], record["rrn"],
            record["points"], points, record["money"], money))
    expiring = sorted((ExpiringPoints(day, lot_points) for _, _, lots in parts
                       for row in lots for day, lot_points in read_lots(row["lots"])),
                      key=lambda lot: lot.last_day)
    return Statement(card.pan_masked, date_from, date_to, opening_points, opening_money,
                     points, money, lines, expiring)
