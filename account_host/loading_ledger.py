"""Bulk reads of the ledger's recent history, at start and after a failed batch, so that the
writer never queries while it applies: what each recent approval posted (for reversals), the
return index, the totals of every terminal's open batch, and the reversal tombstones.

Run inside load_state's snapshot, after the retransmission memory is loaded.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import asyncpg
import structlog

from account_host.chunks import chunks_ahead
from account_host.config import HostConfig
from account_host.expiry.lots import decode_moves, earned_day
from account_host.movements import RETURNABLE_TYPES, Posted, TransactionType
from account_host.state import HostState
from proto.retransmission import key_sql

log = structlog.get_logger("account_host.loading_ledger")

# Rows per cursor fetch: months of purchases may be millions of rows. Two chunks are held at
# once (one filed, the next fetched ahead), as for the cards (loading.py).
LEDGER_LOAD_CHUNK_ROWS = 20_000
_DAY_S = 86_400

# Approvals of the retransmission window, each with the two accounts of each ledger it moved
# (the member's has a card, the counter account has none), for a return, its purchase's RRN,
# and for a redemption of a gift, the gift. The accounts are aggregated by transaction id
# alone and joined after, so that the window's rows are not grouped (sorted) by every column,
# nor the whole of transactions hashed for the originals' RRNs (looked up by id): about 40 %
# less of the server's time at 10^6 approvals (docs/performance.md, "The busy retransmission
# window").
_POSTED_SQL = f"""
WITH recent AS (
    SELECT t.id, {key_sql("t")} AS key,
           t.kind, t.card_id, t.batch_number, t.amount, t.points, t.stored_value_fen, t.rrn,
           t.original_transaction_id, t.lot_moves
    FROM transactions t
    WHERE t.posted_at > now() - make_interval(days => $1)
),
moved AS (
    SELECT e.transaction_id,
           max(p.account_id) FILTER (WHERE e.ledger = 'points' AND a.card_id IS NOT NULL)
               AS points_account_id,
           max(p.account_id) FILTER (WHERE e.ledger = 'points' AND a.card_id IS NULL)
               AS points_counter_account_id,
           max(p.account_id) FILTER (WHERE e.ledger = 'money' AND a.card_id IS NOT NULL)
               AS stored_value_account_id,
           max(p.account_id) FILTER (WHERE e.ledger = 'money' AND a.card_id IS NULL)
               AS stored_value_counter_account_id
    FROM journal_entries e
    JOIN postings p ON p.entry_id = e.id
    JOIN accounts a ON a.id = p.account_id
    WHERE e.transaction_id IN (SELECT id FROM recent)
    GROUP BY e.transaction_id
)
SELECT r.id, r.key, r.kind, r.card_id, r.batch_number, r.amount, r.points,
       r.stored_value_fen, r.rrn, r.original_transaction_id,
       (SELECT o.rrn FROM transactions o WHERE o.id = r.original_transaction_id)
           AS original_rrn,
       m.points_account_id, m.points_counter_account_id, m.stored_value_account_id,
       m.stored_value_counter_account_id, g.alliance_id AS gift_alliance_id, g.gift_code,
       r.lot_moves
FROM recent r
LEFT JOIN moved m ON m.transaction_id = r.id
LEFT JOIN gift_redemptions g ON g.transaction_id = r.id
ORDER BY r.id
"""
# Purchases of this host's cards posted since $1 (the first day kept), with what their
# standing (not reversed) returns returned and clawed back, in RRN order. The returns are
# those of any purchase of the days kept (the join keeps this host's): named so rather than
# as the purchases' own, which made PostgreSQL write all of them to a temporary file first.
_RETURNABLE_SQL = """
WITH purchases AS (
    SELECT t.id, t.rrn, t.posted_at, t.card_id, t.merchant_id, t.amount, t.points, t.kind,
           t.lot_moves
    FROM transactions t
    WHERE t.kind IN ('purchase', 'stored_value_purchase', 'offline_purchase')
      AND t.card_id IS NOT NULL AND t.posted_at >= $1
      AND EXISTS (
        SELECT 1 FROM cards c JOIN LATERAL range_owner(c.pan_masked) AS o ON o.host_name = $2
        WHERE c.id = t.card_id)
),
standing AS (
    SELECT r.original_transaction_id AS purchase_id, sum(r.amount) AS returned,
           -sum(r.points) AS clawed
    FROM transactions r
    WHERE r.kind = 'return'
      AND r.original_transaction_id IN (
          SELECT k.id FROM transactions k
          WHERE k.kind IN ('purchase', 'stored_value_purchase', 'offline_purchase')
            AND k.posted_at >= $1)
      AND NOT EXISTS (SELECT 1 FROM transactions v
                      WHERE v.kind = 'reversal' AND v.original_transaction_id = r.id)
    GROUP BY r.original_transaction_id
)
SELECT p.rrn::bigint, extract(epoch FROM p.posted_at)::bigint, p.id, p.card_id, p.merchant_id,
       p.amount, p.points, p.kind = 'stored_value_purchase',
       coalesce(s.returned, 0)::bigint, coalesce(s.clawed, 0)::bigint,
       EXISTS (SELECT 1 FROM transactions v
               WHERE v.kind = 'reversal' AND v.original_transaction_id = p.id),
       p.lot_moves
FROM purchases p LEFT JOIN standing s ON s.purchase_id = p.id
ORDER BY p.rrn
"""
# The approved, not reversed transactions of each terminal's open batch (its first, 000001,
# when it has no row yet), by kind; batch numbers wrap, so only those since it opened.
_OPEN_BATCH_TOTALS_SQL = """
SELECT o.terminal_code, t.kind, count(*) AS count, sum(t.amount)::bigint AS amount
FROM (SELECT m.terminal_code, coalesce(b.batch_number, 1) AS batch_number, b.opened_at
      FROM terminals m
      LEFT JOIN terminal_batches b
             ON b.terminal_code = m.terminal_code AND b.closed_at IS NULL
      WHERE NOT m.virtual) o
JOIN transactions t ON t.terminal_code = o.terminal_code AND t.batch_number = o.batch_number
                   AND (o.opened_at IS NULL OR t.posted_at >= o.opened_at)
WHERE t.kind <> 'reversal'
  AND NOT EXISTS (SELECT 1 FROM transactions v
                  WHERE v.kind = 'reversal' AND v.original_transaction_id = t.id)
GROUP BY o.terminal_code, t.kind
"""
_TOMBSTONES_SQL = f"""
SELECT {key_sql()},
       extract(epoch FROM created_at)::bigint
FROM reversal_tombstones WHERE created_at > now() - make_interval(days => $1)
"""


async def load_ledger_windows(
    connection: asyncpg.Connection, state: HostState, config: HostConfig
) -> None:
    await _load_posted(connection, state, config)
    await _load_returnable(connection, state, config)
    for terminal_code, kind, count, amount in await connection.fetch(_OPEN_BATCH_TOTALS_SQL):
        state.batch_of(terminal_code).add(kind, count, amount)
    for key, created_s in await connection.fetch(_TOMBSTONES_SQL,
                                                 config.retransmission_window_days):
        state.tombstones.add(key, created_s)


async def _load_posted(
    connection: asyncpg.Connection, state: HostState, config: HostConfig
) -> None:
    """Attach to each remembered approval what it posted, and mark the reversed ones. Only a
    remembered request's `Posted` is built: a reversal finds its original by key in the
    memory, so the rows of the others (an approval whose request row is gone) are passed
    over without being decoded, and nothing but the memory's holds a `Posted` at the peak."""
    memory = state.retransmissions
    attached: dict[int, Posted] = {}   # by transaction id, for the reversals read after them
    cursor = await connection.cursor(_POSTED_SQL, config.retransmission_window_days)
    async with contextlib.aclosing(chunks_ahead(cursor, LEDGER_LOAD_CHUNK_ROWS)) as chunks:
        async for rows in chunks:
            for row in rows:
                (transaction_id, key, kind, card_id, batch_number, amount, points,
                 stored_value, rrn, original_id, original_rrn, points_account, points_counter,
                 value_account, value_counter, gift_alliance_id, gift_code, lot_moves) = row
                if kind == TransactionType.REVERSAL:
                    reversed_posted = attached.get(original_id)
                    if reversed_posted is not None:
                        reversed_posted.reversed = True
                    continue
                if not memory.remembers(key):
                    continue
                try:
                    transaction_type = TransactionType(kind)
                except ValueError:
                    log.error("transaction_kind_unknown", transaction_id=transaction_id,
                              kind=kind)
                    continue
                if transaction_type in RETURNABLE_TYPES:
                    purchase_rrn = int(rrn) if card_id is not None else 0
                else:
                    purchase_rrn = int(original_rrn) if original_rrn is not None else 0
                posted = Posted(
                    transaction_id, transaction_type, card_id or 0, batch_number or 0, amount,
                    points_account or 0, points_counter or 0, points, value_account or 0,
                    value_counter or 0, stored_value, purchase_rrn,
                    gift=None if gift_code is None else (gift_alliance_id, gift_code),
                    lots=decode_moves(lot_moves))
                memory.attach_posted(key, posted)
                attached[transaction_id] = posted


async def _load_returnable(
    connection: asyncpg.Connection, state: HostState, config: HostConfig
) -> None:
    index = state.returns
    today = int(datetime.now(UTC).timestamp()) // _DAY_S
    first_day_kept = datetime.fromtimestamp((today - index.keep_days + 1) * _DAY_S, UTC)
    cursor = await connection.cursor(_RETURNABLE_SQL, first_day_kept, config.name)
    async with contextlib.aclosing(chunks_ahead(cursor, LEDGER_LOAD_CHUNK_ROWS)) as chunks:
        async for rows in chunks:
            for (rrn, posted_s, transaction_id, card_id, merchant_id, amount, points,
                 from_stored_value, returned, clawed, reversed_, lot_moves) in rows:
                index.add(rrn, posted_s, transaction_id, card_id, merchant_id, amount, points,
                          from_stored_value, returned=returned, clawed=clawed,
                          reversed_=reversed_,
                          lot_day=earned_day(decode_moves(lot_moves)) if lot_moves else 0)
