"""Bulk reads of the host's state: a handful of plain SELECTs, no per-row round trips.

Used at start, after a failed batch (the state is rebuilt whole from what is durable), and by
the change listener for cards, merchants, terminals and alliances added while running.
"""

from __future__ import annotations

import contextlib
import ctypes
import time as clock
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from itertools import compress
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio
import asyncpg
import structlog

from account_host.batches import OpenBatch
from account_host.card_store import CardRow
from account_host.chunks import chunks_ahead
from account_host.config import HostConfig
from account_host.database import DATABASE_ERRORS
from account_host.earning.loading import load_earning, load_journal_counters
from account_host.errors import StateLoadError
from account_host.loading_ledger import load_ledger_windows
from account_host.lottery.loading import load_lottery
from account_host.risk.loading import apply_risk, read_risk
from account_host.state import (
    CARD_STATUS_DECLINES,
    GIFTS_MAX,
    MERCHANTS_MAX,
    TERMINALS_MAX,
    Alliance,
    Gift,
    HostState,
    LoadedCard,
    Merchant,
    Terminal,
)
from proto.retransmission import key_sql

log = structlog.get_logger("account_host.loading")

# Rows per cursor fetch at start: large enough that round trips do not matter (50 for 10^6
# cards), small enough that the two chunks held at once (the one filed, the one fetched
# ahead: about 5 MB of records each) are a small part of the peak. At 50,000 the peak was
# 484 MiB against 424 at 20,000, 10^6 cards with 13 lots (docs/performance.md).
CARD_LOAD_CHUNK_ROWS = 20_000
# Rows per cursor fetch of the remembered requests: a row is a key, a digest and an answer of
# about 100 bytes, so two chunks held at once are a few MiB.
REQUEST_LOAD_CHUNK_ROWS = 20_000
# The load's joins of 10^6 cards with their accounts hash in memory instead of spilling to
# temporary files, which doubles their time; only for the loading transaction.
_LOAD_WORK_MEM = "128MB"

# The cards this host owns: those whose narrowest card range is its own (range_owner,
# migration 029), each with its member accounts if they exist. $2: only ids above it;
# $4: only these ids (NULL for all). A card's status is this host's own newest change
# (card_status_changes) when it is newer than central's row: in a partition the row comes back
# from central some time after the host closed the card (migration 031), and a reload meanwhile
# must not open it again. The changes are few (closures, replacements): one hash join.
_CARDS_SQL = """
SELECT c.id, c.pan_hmac, c.alliance_id,
       CASE WHEN sc.changed_at > coalesce(c.status_changed_at, '-infinity') THEN sc.status
            ELSE c.status END AS status,
       c.expires_on - date '0001-01-01' + 1 AS expires_ordinal,
       coalesce(p.id, 0) AS points_account_id, p.balance AS points_balance,
       coalesce(s.id, 0) AS stored_value_account_id, s.balance AS stored_value_balance,
       c.password_verification, c.password_version, coalesce(t.tries, 0) AS password_tries,
       coalesce(extract(month FROM m.birthday) * 100 + extract(day FROM m.birthday), 0)::integer
           AS birthday,
       p.lots AS points_lots, coalesce(c.member_id, 0) AS member_id,
       CASE WHEN n.copy_newer THEN p.standing ELSE ts.standing END AS standing,
       CASE WHEN n.copy_newer THEN p.standing_seq ELSE ts.seq END AS standing_seq,
       greatest(p.standing_seq, ts.seq) AS seq_seen,
       p.counted_day AS points_counted_day, p.counted_month AS points_counted_month
FROM cards c
LEFT JOIN members m ON m.id = c.member_id
LEFT JOIN tier_standings ts ON ts.holder = coalesce(c.member_id, -c.id)
LEFT JOIN accounts p ON p.kind = 'member_points' AND p.card_id = c.id
LEFT JOIN accounts s ON s.kind = 'member_stored_value' AND s.card_id = c.id
-- The copy on the card's points account is its holder's and newer than the holder's row.
CROSS JOIN LATERAL (SELECT p.standing_holder = coalesce(c.member_id, -c.id)
                           AND p.standing_seq > coalesce(ts.seq, -1) AS copy_newer) AS n
LEFT JOIN card_password_tries t
       ON t.card_id = c.id AND t.password_version = c.password_version
LEFT JOIN (SELECT DISTINCT ON (card_id) card_id, status, changed_at FROM card_status_changes
           ORDER BY card_id, changed_at DESC) AS sc ON sc.card_id = c.id
JOIN LATERAL range_owner(c.pan_masked) AS o ON o.host_name = $1
WHERE c.id > $2 AND ($4::bigint[] IS NULL OR c.id = ANY($4::bigint[]))
LIMIT $3
"""
_CARD_COLUMNS = (
    "id", "pan_hmac", "alliance_id", "status", "expires_ordinal", "points_account_id",
    "points_balance", "stored_value_account_id", "stored_value_balance",
    "password_verification", "password_version", "password_tries", "birthday", "points_lots",
    "member_id", "standing", "standing_seq", "seq_seen", "points_counted_day",
    "points_counted_month")
_ALLIANCES_SQL = """
SELECT a.id, a.timezone, a.cutover_local_time, a.exchange_points_per_yuan,
       a.points_transfer_allowed, a.order_points_share_bp,
       (SELECT max(d.business_date) FROM business_days d WHERE d.alliance_id = a.id)
           AS sealed_through
FROM alliances a LIMIT $1
"""
_MERCHANTS_SQL = """
SELECT id, merchant_code, alliance_id, active, earn_points_per_yuan, category FROM merchants
LIMIT $1
"""
# Not the virtual terminals (migration 036): a request naming one over a link answers 58; the
# host posts an imported purchase from it itself.
_TERMINALS_SQL = """
SELECT t.terminal_code, t.merchant_id, t.active AND coalesce(s.active, true) AS active
FROM terminals t LEFT JOIN shops s ON s.id = t.shop_id WHERE NOT t.virtual LIMIT $1
"""
# Accounts that belong to no card: merchants' and the alliance's.
_OTHER_ACCOUNTS_SQL = """
SELECT id, ledger, kind, merchant_id, alliance_id, balance FROM accounts WHERE card_id IS NULL
"""
# The open batch of each terminal: its row not yet closed (the host keeps one per terminal; the
# latest opened wins should there be more).
_OPEN_BATCHES_SQL = """
SELECT DISTINCT ON (terminal_code) terminal_code, batch_number, opened_at
FROM terminal_batches WHERE closed_at IS NULL
ORDER BY terminal_code, opened_at DESC
"""
# The gifts whose stock this host keeps (gift_catalogue.host_name), withdrawn ones too (05).
# Stock and state as this host's last batch left them (gift_stock), once it has changed them:
# in a partition the catalogue shows them only when central has folded them (migration 031).
_GIFTS_SQL = """
SELECT g.alliance_id, g.gift_code, g.points,
       CASE WHEN s.partition IS NULL THEN g.stock ELSE s.stock END AS stock,
       CASE WHEN s.partition IS NULL THEN g.active ELSE s.active END AS active
FROM gift_catalogue g
LEFT JOIN gift_stock s
       ON s.alliance_id = g.alliance_id AND s.gift_code = g.gift_code AND s.partition = $2
WHERE g.host_name = $2 LIMIT $1
"""
_REQUESTS_SQL = f"""
SELECT {key_sql()} AS key,
       extract(epoch FROM received_at)::bigint AS received_at_s, content_digest, answer
FROM host_requests
WHERE received_at > now() - make_interval(days => $1)
ORDER BY received_at
"""


async def load_state(
    connection: asyncpg.Connection, config: HostConfig, pan_lookup_key: bytes,
) -> HostState:
    """The whole state, read within one snapshot (REPEATABLE READ, read only)."""
    started = clock.perf_counter()
    state = HostState(config.retransmission_window_days * 86_400, config.return_window_days,
                      pan_lookup_key=pan_lookup_key)
    try:
        with anyio.fail_after(config.load_timeout_s):
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                state.replace_alliances(await load_alliances(connection))
                state.replace_merchants(await load_merchants(connection))
                now = datetime.now(UTC)
                await load_earning(connection, state)
                await load_lottery(connection, state.lottery,
                                   config.retransmission_window_days * 86_400, now,
                                   config.name)
                state.replace_terminals(await load_terminals(connection))
                state.merge_gifts(await load_gifts(connection, config.name))
                await _load_other_accounts(connection, state)
                await _load_all_cards(connection, state, config)
                await load_journal_counters(connection, state, now)
                timezones = {alliance_id: alliance.timezone
                             for alliance_id, alliance in state.alliances.items()}
                apply_risk(state.risk, await read_risk(connection, timezones, now), fresh=True)
                for row in await connection.fetch(_OPEN_BATCHES_SQL):
                    state.batches[row["terminal_code"]] = OpenBatch(row["batch_number"],
                                                                    row["opened_at"])
                await _load_requests(connection, state, config)
                await load_ledger_windows(connection, state, config)
    except DATABASE_ERRORS as exc:
        raise StateLoadError(f"loading the host's state failed: {exc!r}") from exc
    _return_freed_heap()
    log.info("state_loaded", cards=len(state.cards), accounts=len(state.balances),
             merchants=len(state.merchants), terminals=len(state.terminals),
             requests=len(state.retransmissions),
             returnable=len(state.returns), tombstones=len(state.tombstones),
             lots=len(state.lots), counted_cards=len(state.earn_counters),
             elapsed_s=round(clock.perf_counter() - started, 3))
    return state


def _return_freed_heap() -> None:
    """Give the heap the load freed back to the system. The card store's columns, the dicts
    and the chunks' rows grew and went by reallocation, and glibc keeps the holes they left
    (about 40 MiB of resident memory at 10^6 cards); malloc_trim returns their pages. Where
    the C library has no malloc_trim, nothing is done."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


async def load_alliances(connection: asyncpg.Connection) -> list[Alliance]:
    alliances = []
    for row in await connection.fetch(_ALLIANCES_SQL, MERCHANTS_MAX):
        try:
            timezone = ZoneInfo(row["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            # A data error that must not stop the host: business dates fall back to UTC.
            log.error("alliance_timezone_unknown", alliance_id=row["id"],
                      timezone=row["timezone"])
            timezone = ZoneInfo("UTC")
        alliances.append(Alliance(row["id"], timezone, row["cutover_local_time"],
                                  row["exchange_points_per_yuan"], row["sealed_through"],
                                  row["points_transfer_allowed"],
                                  row["order_points_share_bp"]))
    return alliances


async def load_merchants(connection: asyncpg.Connection) -> list[Merchant]:
    rows = await connection.fetch(_MERCHANTS_SQL, MERCHANTS_MAX)
    return [Merchant(row[0], row[1], row[2], row[3], row[4], row[5]) for row in rows]


async def load_terminals(connection: asyncpg.Connection) -> dict[str, Terminal]:
    """Every registered terminal by its code (field 41), active or not."""
    rows = await connection.fetch(_TERMINALS_SQL, TERMINALS_MAX + 1)
    if len(rows) > TERMINALS_MAX:
        raise StateLoadError(f"more than {TERMINALS_MAX} terminals")
    return {row[0]: Terminal(row[1], row[2]) for row in rows}


async def load_gifts(
    connection: asyncpg.Connection, host_name: str,
) -> dict[tuple[int, str], Gift]:
    """The gifts this host keeps, of every alliance's catalogue, by (alliance id, code)."""
    rows = await connection.fetch(_GIFTS_SQL, GIFTS_MAX, host_name)
    return {(row["alliance_id"], row["gift_code"]): Gift(row["points"], row["stock"],
                                                          row["active"]) for row in rows}


async def load_cards(
    connection: asyncpg.Connection, host_name: str, *, above_id: int = 0,
    only_ids: list[int] | None = None, limit: int,
) -> list[LoadedCard]:
    """Cards of this host as LoadedCard (for merging into a running state)."""
    rows = await connection.fetch(_CARDS_SQL, host_name, above_id, limit, only_ids)
    loaded = []
    for card_id, pan_hash, alliance_id, status, expires, points_id, points, value_id, value, \
            password, password_version, password_tries, birthday, lots, member_id, \
            standing, _, _, _, _ in rows:   # a new card has counted nothing yet
        card = CardRow(card_id, alliance_id, CARD_STATUS_DECLINES[status], expires,
                       points_id, value_id, password, password_version,
                       password_tries, birthday, member_id, None if member_id else standing)
        balances = tuple((account_id, balance) for account_id, balance
                         in ((points_id, points), (value_id, value)) if account_id)
        loaded.append(LoadedCard(pan_hash, card, balances, standing, lots or None))
    return loaded


async def _load_all_cards(
    connection: asyncpg.Connection, state: HostState, config: HostConfig
) -> None:
    """Every card of this host, read through a cursor a chunk at a time: the rows of one chunk
    are freed before the next arrives, so the peak stays near the size of the state itself.
    A chunk goes into the card store a column at a time (zip(*rows): no loop per field), and
    the store indexes them all at the end."""
    cards = state.cards
    balances = state.balances
    lots_of = state.lots
    declines = CARD_STATUS_DECLINES
    standings = state.member_standings
    # A member's copies of its standing are on its cards' rows: the newest wins (seq).
    member_seqs: dict[int, int] = {}
    highest = standing_seq = 0
    await connection.execute(f"SET LOCAL work_mem = '{_LOAD_WORK_MEM}'")
    cursor = await connection.cursor(_CARDS_SQL, config.name, 0, config.cards_max + 1, None)
    chunks = chunks_ahead(cursor, CARD_LOAD_CHUNK_ROWS)
    async with contextlib.aclosing(chunks):   # an error ends the fetch in flight first
        async for rows in chunks:
            assert tuple(rows[0].keys()) == _CARD_COLUMNS
            column = partial(_column, rows)
            card_ids, points_ids, value_ids = (list(column(name)) for name in (
                "id", "points_account_id", "stored_value_account_id"))
            member_ids = list(column("member_id"))
            card_standings: list[bytes | None] = []   # a memberless card's own
            for member_id, standing, seq, seq_seen in zip(
                    member_ids, column("standing"), column("standing_seq"), column("seq_seen"),
                    strict=True):
                if seq_seen is not None and seq_seen > standing_seq:
                    standing_seq = seq_seen   # copies of other holders' too: never reused
                if not member_id:
                    card_standings.append(standing)
                    continue
                card_standings.append(None)
                # A member's cards share one: the newest of their copies (seq).
                if standing is not None and seq >= member_seqs.get(member_id, -1):
                    standings[member_id] = standing
                    member_seqs[member_id] = seq
            cards.extend(
                column("pan_hmac"), card_ids, column("alliance_id"),
                map(declines.__getitem__, column("status")), column("expires_ordinal"),
                points_ids, value_ids, column("password_verification"), column("password_version"),
                column("password_tries"), column("birthday"), member_ids, card_standings,
                index=False)
            # A card's accounts, where they exist (an id of 0: not created yet).
            balances.update_from(compress(points_ids, points_ids),
                                 compress(column("points_balance"), points_ids))
            lots_of.update_from(compress(points_ids, points_ids),
                                compress(column("points_lots"), points_ids))
            balances.update_from(compress(value_ids, value_ids),
                                 compress(column("stored_value_balance"), value_ids))
            # The cards' earn counters, as their points accounts carry them (migration 028).
            state.earn_counters.load_stored(compress(card_ids, points_ids),
                                            compress(column("points_counted_day"), points_ids),
                                            compress(column("points_counted_month"), points_ids))
            highest = max(highest, *card_ids)
            if len(cards) > config.cards_max:
                raise StateLoadError(f"more than cards_max={config.cards_max} cards")
    cards.index_all()
    state.highest_card_id = highest
    state.standing_seq = standing_seq


def _column(rows: list[asyncpg.Record], name: str) -> Iterator[Any]:
    """A column of _CARDS_SQL's rows, by position (a record's lookup by name costs about a
    second more at 10^6 cards)."""
    return map(itemgetter(_CARD_COLUMNS.index(name)), rows)


async def _load_other_accounts(connection: asyncpg.Connection, state: HostState) -> None:
    for account_id, ledger, kind, merchant_id, alliance_id, balance in \
            await connection.fetch(_OTHER_ACCOUNTS_SQL):
        state.balances[account_id] = balance
        owner_id = merchant_id if merchant_id is not None else alliance_id
        state.owner_accounts[kind, owner_id] = account_id
        state.owner_account_rows[account_id] = (ledger, kind, None, merchant_id, alliance_id)


async def _load_requests(
    connection: asyncpg.Connection, state: HostState, config: HostConfig
) -> None:
    """The requests of the retransmission window, in time order, a chunk at a time: a busy
    window holds a million of them, whose rows at once took hundreds of MiB beside the state."""
    memory = state.retransmissions
    cursor = await connection.cursor(_REQUESTS_SQL, config.retransmission_window_days)
    async with contextlib.aclosing(chunks_ahead(cursor, REQUEST_LOAD_CHUNK_ROWS)) as chunks:
        async for rows in chunks:
            for key, received_at_s, digest, answer in rows:
                memory.remember(key, digest, answer, received_at_s)
