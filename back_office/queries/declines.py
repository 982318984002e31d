"""`jifen txn find --declined` / `--response-code NN`: requests the host answered with anything
but 00. They post nothing, so they have no transaction row: the host records each in
host_requests (its key, MTI + 41 + 11 + 7, a digest of its content, the answer frame and the
time), and nothing else: not the card (only a digest of the request), not the amount, not the
business date. So declines are found by terminal, merchant, response code and UTC time only.

Field 39 is read from the stored answer by `host_answer_response_code` (migration 013), and the
partial index `host_requests_declined` holds only the declines, newest first.

Row-level security: host_requests has no merchant_id; a merchant admin's policy goes through
the terminal (`terminal_code IN (SELECT terminal_code FROM terminals WHERE merchant_id = ...)`,
migration 019), as the merchant filter here does. The merchant is the terminal's today.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from back_office.queries.conditions import Conditions
from back_office.queries.cursor import DeclineKey, decode_cursor, encode_cursor
from back_office.queries.errors import InvalidQueryError
from back_office.queries.partitions import (
    NO_OTHER_PARTITIONS,
    OtherPartitions,
    narrowed_to_merchant,
    partition_fetch,
)
from back_office.queries.read_only import read_only
from back_office.queries.transactions import (
    APPROVED,
    PAGE_ROWS_DEFAULT,
    check_page_rows,
    check_terminal,
    merchant_id_of,
)


class DeclineFilter(msgspec.Struct, frozen=True, kw_only=True):
    response_code: str | None = None              # 39; None: every code but 00
    merchant_code: str | None = None              # 42 (the terminal's merchant)
    terminal_code: str | None = None              # 41
    received_from: datetime | None = None         # UTC, inclusive
    received_before: datetime | None = None       # UTC, exclusive


class DeclinedRequest(msgspec.Struct, frozen=True):
    received_at: datetime
    mti: str
    merchant_code: str | None     # the terminal's merchant
    terminal_code: str            # 41
    stan: str                     # 11
    transmission_time: str        # 7, MMDDhhmmss UTC
    response_code: str | None     # 39 (None: an answer this reader does not parse)


class DeclinePage(msgspec.Struct, frozen=True):
    rows: list[DeclinedRequest]
    next_cursor: str | None


_SELECT = """
SELECT r.received_at, r.mti, m.merchant_code, r.terminal_code, r.stan, r.transmission_time,
       host_answer_response_code(r.answer) AS response_code
FROM host_requests AS r
LEFT JOIN terminals AS tm ON tm.terminal_code = r.terminal_code
LEFT JOIN merchants AS m ON m.id = tm.merchant_id
WHERE host_answer_response_code(r.answer) IS DISTINCT FROM '00'
"""
_ORDER = ("ORDER BY r.received_at DESC, r.terminal_code DESC, r.mti DESC, r.stan DESC, "
          "r.transmission_time DESC")


def check_decline_filter(query: DeclineFilter) -> None:
    code = query.response_code
    if code is not None and not (len(code) == 2 and code.isalnum()):
        raise InvalidQueryError("a response code is 2 characters (ISO field 39)")
    if code == APPROVED:
        raise InvalidQueryError("00 is an approval: approvals are the transactions")
    for moment in (query.received_from, query.received_before):
        if moment is not None and moment.tzinfo is None:
            raise InvalidQueryError("a time of day needs its zone (UTC: ...Z or +00:00)")


async def find_declines(
    connection: asyncpg.Connection, query: DeclineFilter, *,
    limit: int = PAGE_ROWS_DEFAULT, after: str | None = None,
    partitions: OtherPartitions = NO_OTHER_PARTITIONS,
) -> DeclinePage:
    """A page of declined requests, newest first, over central's host_requests and every other
    partition's (each partition's first page after the cursor, merged by the key)."""
    check_decline_filter(query)
    check_page_rows(limit)
    key = decode_cursor(after, DeclineKey) if after else None
    async with read_only(connection):
        partitions = await narrowed_to_merchant(connection, partitions)
        where = Conditions()
        condition = where.add
        if query.response_code is not None:
            condition("host_answer_response_code(r.answer) = {}", query.response_code)
        if query.merchant_code is not None:
            condition("tm.merchant_id = {}",
                      await merchant_id_of(connection, query.merchant_code))
        if query.terminal_code is not None:
            await check_terminal(connection, query.terminal_code)
            condition("r.terminal_code = {}", query.terminal_code)
        if query.received_from is not None:
            condition("r.received_at >= {}", query.received_from)
        if query.received_before is not None:
            condition("r.received_at < {}", query.received_before)
        if key is not None:
            where.after_key("r.received_at, r.terminal_code, r.mti, r.stan, r.transmission_time",
                            (key.received_at, key.terminal_code, key.mti, key.stan,
                             key.transmission_time))
        limit_clause = where.limit(limit + 1)
        filters = "".join(f" AND {text}" for text in where.texts)
        sql = f"{_SELECT}{filters} {_ORDER} {limit_clause}"
        records = await connection.fetch(sql, *where.arguments)
    others = await partition_fetch(partitions, [(sql, where.arguments)])
    if others:
        records += [record for (rows_of_partition,) in others.values()
                    for record in rows_of_partition]
        records.sort(key=lambda r: (r["received_at"], r["terminal_code"], r["mti"], r["stan"],
                                    r["transmission_time"]), reverse=True)
    rows = [DeclinedRequest(*record.values()) for record in records[:limit]]
    last = rows[-1] if len(records) > limit else None
    next_cursor = encode_cursor(DeclineKey(
        last.received_at, last.terminal_code, last.mti, last.stan, last.transmission_time,
    )) if last is not None else None
    return DeclinePage(rows, next_cursor)
