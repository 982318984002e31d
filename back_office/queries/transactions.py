"""`jifen txn find` (交易查询): the journal's transactions, newest first, a page at a time.

A transaction row is an approval that moved value (docs/ledger.md): its response code is 00.
Each filter narrows through an index of migration 013 whose columns are the filter, then the
page key (business_date, id), so a page is one short range scan at any journal size: a card
(`transactions_card`), a merchant (`transactions_merchant`), a terminal
(`transactions_terminal`), a business date range (`transactions_business_date`), an RRN (its
unique key). A UTC time range (posted_at) without business dates pages by (posted_at, id)
instead, through `transactions_posted_at`: walking the business dates' key to a window of
time would read every newer row first (seconds at 10^7 postings; the two orders differ only
across alliances' cut-overs). Its cursor is of its own kind.

Row-level security: `transactions` carries merchant_id, so a policy for merchant admins
(`USING (merchant_id = <their merchant>)`, migration of the operators' work) narrows every page
here with no change to this query; the joined merchants and cards add no row.
"""

from __future__ import annotations

from datetime import date, datetime

import asyncpg
import msgspec

from back_office.queries.conditions import Conditions
from back_office.queries.cursor import PostedKey, TransactionKey, decode_cursor, encode_cursor
from back_office.queries.errors import InvalidQueryError, NotFoundError
from back_office.queries.partitions import (
    NO_OTHER_PARTITIONS,
    OtherPartitions,
    narrowed_to_merchant,
    partition_fetch,
)
from back_office.queries.read_only import read_only

# Rows a page holds by default, and at most: a person reads 50; a script may page by 1,000,
# which keeps a page within the 100 ms of the issue and a few hundred KB of JSON.
PAGE_ROWS_DEFAULT = 50
PAGE_ROWS_MAX = 1_000
# Cards a filter may name at once: a member's cards (the members' work), not a card list.
FILTER_CARDS_MAX = 100
APPROVED = "00"


class TransactionFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What `txn find` narrows by; every field given must hold (AND)."""

    # A card, or a member's cards: members do not exist yet; when they do (back_office/
    # members/), `--member` resolves to the member's card ids and lands here.
    card_ids: tuple[int, ...] | None = None
    merchant_code: str | None = None              # ISO field 42
    terminal_code: str | None = None              # ISO field 41
    rrn: str | None = None                        # ISO field 37
    business_date_from: date | None = None        # inclusive
    business_date_to: date | None = None          # inclusive
    posted_from: datetime | None = None           # UTC, inclusive
    posted_before: datetime | None = None         # UTC, exclusive


class TransactionRow(msgspec.Struct, frozen=True):
    transaction_id: int
    business_date: date
    posted_at: datetime
    kind: str
    mti: str | None               # None, and no 41, 42, 11: a back-office change (command_id)
    merchant_code: str | None
    terminal_code: str | None     # 41
    pan_masked: str | None        # None: an advice of a card the host does not know
    stan: str | None              # 11
    rrn: str | None               # 37
    auth_code: str | None         # 38
    amount: int                   # 4: fen (currency 156) or points (999)
    currency: str                 # 49
    points: int                   # what it moved on the member's points, signed
    stored_value_fen: int         # and on the member's stored value
    response_code: str            # 39
    original_transaction_id: int | None
    command_id: int | None        # the back-office command it carried out (jifen card commands)


class TransactionPage(msgspec.Struct, frozen=True):
    rows: list[TransactionRow]
    next_cursor: str | None       # --after this for the next page; None: the last page


_SELECT = """
SELECT t.id, t.business_date, t.posted_at, t.kind, t.mti, m.merchant_code, t.terminal_code,
       c.pan_masked, t.stan, t.rrn, t.auth_code, t.amount, t.currency, t.points,
       t.stored_value_fen, t.original_transaction_id, t.command_id
FROM transactions AS t
LEFT JOIN merchants AS m ON m.id = t.merchant_id
LEFT JOIN cards AS c ON c.id = t.card_id
"""


def check_page_rows(limit: int) -> None:
    if not 1 <= limit <= PAGE_ROWS_MAX:
        raise InvalidQueryError(f"--limit is 1 to {PAGE_ROWS_MAX} rows a page")


async def merchant_id_of(connection: asyncpg.Connection, merchant_code: str) -> int:
    merchant_id = await connection.fetchval(
        "SELECT id FROM merchants WHERE merchant_code = $1", merchant_code)
    if merchant_id is None:
        raise NotFoundError(f"no merchant {merchant_code}")
    return int(merchant_id)


async def check_terminal(connection: asyncpg.Connection, terminal_code: str) -> None:
    if await connection.fetchval(
            "SELECT 1 FROM terminals WHERE terminal_code = $1", terminal_code) is None:
        raise NotFoundError(f"no terminal {terminal_code}")


def check_filter(query: TransactionFilter) -> None:
    if query.card_ids is not None and not 1 <= len(query.card_ids) <= FILTER_CARDS_MAX:
        raise InvalidQueryError(f"a filter names 1 to {FILTER_CARDS_MAX} cards")
    if (query.business_date_from and query.business_date_to
            and query.business_date_from > query.business_date_to):
        raise InvalidQueryError("--from is after --to")
    for moment in (query.posted_from, query.posted_before):
        if moment is not None and moment.tzinfo is None:
            raise InvalidQueryError("a time of day needs its zone (UTC: ...Z or +00:00)")
    if query.posted_from and query.posted_before and query.posted_from >= query.posted_before:
        raise InvalidQueryError("--since is not before --until")


async def find_transactions(
    connection: asyncpg.Connection, query: TransactionFilter, *,
    limit: int = PAGE_ROWS_DEFAULT, after: str | None = None,
    partitions: OtherPartitions = NO_OTHER_PARTITIONS,
) -> TransactionPage:
    """A page of the transactions `query` selects, newest first, after the cursor `after`, over
    central's journal and every other partition's: each gives its own first page after the
    cursor, and the page is the newest of them all (ids are unique over partitions, so the
    key orders every row once)."""
    check_filter(query)
    check_page_rows(limit)
    by_time = (query.business_date_from is None and query.business_date_to is None
               and (query.posted_from is not None or query.posted_before is not None))
    key_columns = "t.posted_at, t.id" if by_time else "t.business_date, t.id"
    key: TransactionKey | PostedKey | None = None
    if after:
        key = decode_cursor(after, PostedKey) if by_time else decode_cursor(after, TransactionKey)
    async with read_only(connection):
        partitions = await narrowed_to_merchant(connection, partitions)
        where = Conditions()
        condition = where.add
        if query.card_ids is not None:
            if len(query.card_ids) == 1:
                condition("t.card_id = {}", query.card_ids[0])
            else:
                condition("t.card_id = ANY({}::bigint[])", list(query.card_ids))
        if query.merchant_code is not None:
            condition("t.merchant_id = {}",
                      await merchant_id_of(connection, query.merchant_code))
        if query.terminal_code is not None:
            await check_terminal(connection, query.terminal_code)
            condition("t.terminal_code = {}", query.terminal_code)
        if query.rrn is not None:
            condition("t.rrn = {}", query.rrn)
        if query.business_date_from is not None:
            condition("t.business_date >= {}", query.business_date_from)
        if query.business_date_to is not None:
            condition("t.business_date <= {}", query.business_date_to)
        if query.posted_from is not None:
            condition("t.posted_at >= {}", query.posted_from)
        if query.posted_before is not None:
            condition("t.posted_at < {}", query.posted_before)
        if key is not None:
            where.after_key(key_columns, (key.posted_at if isinstance(key, PostedKey)
                                          else key.business_date, key.transaction_id))
        limit_clause = where.limit(limit + 1)
        filters = f"WHERE {' AND '.join(where.texts)}" if where.texts else ""
        order = key_columns.replace(",", " DESC,") + " DESC"
        sql = f"{_SELECT} {filters} ORDER BY {order} {limit_clause}"
        records = await connection.fetch(sql, *where.arguments)
    others = await partition_fetch(partitions, [(sql, where.arguments)])
    if others:
        records += [record for (rows_of_partition,) in others.values()
                    for record in rows_of_partition]
        key_of = "posted_at" if by_time else "business_date"
        records.sort(key=lambda record: (record[key_of], record["id"]), reverse=True)
    rows = [_row(record) for record in records[:limit]]
    next_cursor = None
    if len(records) > limit:
        last = rows[-1]
        next_cursor = encode_cursor(
            PostedKey(last.posted_at, last.transaction_id) if by_time
            else TransactionKey(last.business_date, last.transaction_id))
    return TransactionPage(rows, next_cursor)


def _row(record: asyncpg.Record) -> TransactionRow:
    return TransactionRow(
        record["id"], record["business_date"], record["posted_at"], record["kind"],
        record["mti"], record["merchant_code"], record["terminal_code"], record["pan_masked"],
        record["stan"], record["rrn"], record["auth_code"], record["amount"],
        record["currency"], record["points"], record["stored_value_fen"], APPROVED,
        record["original_transaction_id"], record["command_id"])
