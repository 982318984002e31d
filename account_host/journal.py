"""The batch statement: everything one group commit writes, in one round trip.

A batch's rows are gathered in column arrays while it is applied, and written by a single
statement of data-modifying CTEs over `unnest` of those arrays (each sent as the text of an
array literal: see array_literals.py): accounts (created, or their
balance set to the batch's final balance), transactions, journal entries, postings,
host_requests, review items, reversal tombstones, terminal batches (closed and
opened), card passwords' wrong tries, back-office commands' outcomes and the statuses of the
cards they closed (or activated), the gifts redemptions took, the stock and state of the gifts
the batch changed, and the tier standings it changed (with the balance of the card that changed
each, where it can: see _standings_placed), and the members' notifications of all these
(migration 035: one outbox row per posting and card whose points or stored value it moves, with
the balances after it, derived in SQL from the postings the statement writes; one per card
status that blocks a card, from those rows; one per tier change and password lock, from
arrays filled only when one happens). One statement is one implicit
transaction, and its foreign keys are checked at its end, when every row of the batch is in
place.

The statement writes only the host's own tables. Outcomes, card statuses and stock go into
command_outcomes, card_status_changes, gift_stock and prize_stock (this partition's rows), never
into the back office's host_commands, cards, gift_catalogue or lottery_prize_stock: triggers
fold them there (migration 030), so that a partition's database can hold those as read-only
copies of the central one (docs/plans/partitions.md, step 2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, NamedTuple, Protocol

import msgspec

from account_host.array_literals import (
    bytea_array,
    date_array,
    int_array,
    nullable_bytea_array,
    text_array,
    timestamp_array,
)
from account_host.chart import MONEY_LEDGER, POINTS_LEDGER, AccountKind
from account_host.expiry.lots import soonest_day
from proto.frames import Request, Totals

__all__ = ["BATCH_SQL", "MONEY_LEDGER", "POINTS_LEDGER", "BatchWrite"]

BATCH_SQL = """
WITH
accounts_written AS (
    INSERT INTO accounts (id, ledger, kind, card_id, merchant_id, alliance_id, balance, lots,
                          lots_expire_first, standing, standing_seq, standing_holder,
                          counted_day, counted_month)
    SELECT a.id, a.ledger, a.kind, a.card_id, a.merchant_id, a.alliance_id, a.balance, a.lots,
           date '0001-01-01' + (a.first_day - 1), a.standing,
           CASE WHEN a.standing IS NOT NULL THEN $86::text::bigint END, a.holder,
           a.counted_day, a.counted_month
    FROM unnest($1::text::bigint[], $2::text::text[], $3::text::text[],
                $4::text::bigint[], $5::text::integer[], $6::text::integer[],
                $7::text::bigint[], $77::text::bytea[], $78::text::integer[],
                $87::text::bytea[], $88::text::bigint[], $89::text::bigint[],
                $90::text::bigint[])
         AS a(id, ledger, kind, card_id, merchant_id, alliance_id, balance, lots, first_day,
              standing, holder, counted_day, counted_month)
    ON CONFLICT (id) DO UPDATE SET balance = EXCLUDED.balance, lots = EXCLUDED.lots,
                                   lots_expire_first = EXCLUDED.lots_expire_first,
                                   standing = coalesce(EXCLUDED.standing, accounts.standing),
                                   standing_seq = coalesce(EXCLUDED.standing_seq,
                                                           accounts.standing_seq),
                                   standing_holder = coalesce(EXCLUDED.standing_holder,
                                                              accounts.standing_holder),
                                   counted_day = coalesce(EXCLUDED.counted_day,
                                                          accounts.counted_day),
                                   counted_month = coalesce(EXCLUDED.counted_month,
                                                            accounts.counted_month)
    RETURNING id, kind, card_id, balance
),
transactions_written AS (
    INSERT INTO transactions (id, kind, business_date, posted_at, terminal_code, merchant_id,
                              card_id, batch_number, mti, stan, transmission_time, rrn,
                              auth_code, amount, currency, points, original_transaction_id,
                              stored_value_fen, command_id, lot_moves)
    SELECT t.id, t.kind, t.business_date, $49::timestamptz, t.terminal_code, t.merchant_id,
           t.card_id, t.batch_number, t.mti, t.stan, t.transmission_time, t.rrn, t.auth_code,
           t.amount, t.currency, t.points, t.original_transaction_id, t.stored_value_fen,
           t.command_id, t.lot_moves
    FROM unnest($8::text::bigint[], $9::text::text[], $10::text::date[], $11::text::text[],
                $12::text::integer[], $13::text::bigint[], $14::text::integer[],
                $15::text::text[], $16::text::text[], $17::text::text[], $18::text::text[],
                $19::text::text[], $20::text::bigint[], $21::text::text[], $22::text::bigint[],
                $23::text::bigint[], $24::text::bigint[], $53::text::bigint[],
                $79::text::bytea[])
         AS t(id, kind, business_date, terminal_code, merchant_id, card_id, batch_number, mti,
              stan, transmission_time, rrn, auth_code, amount, currency, points,
              original_transaction_id, stored_value_fen, command_id, lot_moves)
    RETURNING id, kind, business_date
),
entries_written AS (
    INSERT INTO journal_entries (id, transaction_id, ledger, business_date)
    SELECT * FROM unnest($25::text::bigint[], $26::text::bigint[], $27::text::text[],
                         $28::text::date[])
    RETURNING id, transaction_id
),
postings_written AS (
    INSERT INTO postings (entry_id, account_id, amount)
    SELECT * FROM unnest($29::text::bigint[], $30::text::bigint[], $31::text::bigint[])
    RETURNING entry_id, account_id, amount
),
requests_written AS (
    INSERT INTO host_requests (terminal_code, mti, stan, transmission_time, content_digest,
                               answer, received_at, card_id)
    SELECT r.terminal_code, r.mti, r.stan, r.transmission_time, r.content_digest, r.answer,
           $49::timestamptz, r.card_id
    FROM unnest($32::text::text[], $33::text::text[], $34::text::text[], $35::text::text[],
                $36::text::bytea[], $37::text::bytea[], $91::text::bigint[])
         AS r(terminal_code, mti, stan, transmission_time, content_digest, answer, card_id)
    ON CONFLICT (terminal_code, mti, stan, transmission_time) DO UPDATE
        SET content_digest = EXCLUDED.content_digest, answer = EXCLUDED.answer,
            received_at = EXCLUDED.received_at, card_id = EXCLUDED.card_id
    RETURNING 1
),
reviews_written AS (
    INSERT INTO review_items (transaction_id, reason, created_at)
    SELECT v.transaction_id, v.reason, $49::timestamptz
    FROM unnest($38::text::bigint[], $39::text::text[]) AS v(transaction_id, reason)
    RETURNING 1
),
tombstones_written AS (
    INSERT INTO reversal_tombstones (terminal_code, mti, stan, transmission_time, created_at,
                                     card_id)
    SELECT s.terminal_code, s.mti, s.stan, s.transmission_time, $49::timestamptz, s.card_id
    FROM unnest($40::text::text[], $41::text::text[], $42::text::text[], $43::text::text[],
                $92::text::bigint[])
         AS s(terminal_code, mti, stan, transmission_time, card_id)
    ON CONFLICT (terminal_code, mti, stan, transmission_time) DO UPDATE
        SET created_at = EXCLUDED.created_at, card_id = EXCLUDED.card_id
    RETURNING 1
),
batches_written AS (
    INSERT INTO terminal_batches (terminal_code, batch_number, opened_at, closed_at,
                                  result_code, claimed, counted)
    SELECT b.terminal_code, b.batch_number, b.opened_at, b.closed_at, b.result_code,
           b.claimed::bigint[], b.counted::bigint[]
    FROM unnest($44::text::text[], $45::text::integer[], $46::text::timestamptz[],
                $47::text::timestamptz[], $48::text::text[], $93::text::text[],
                $94::text::text[])
         AS b(terminal_code, batch_number, opened_at, closed_at, result_code, claimed, counted)
    ON CONFLICT (terminal_code, batch_number, opened_at) DO UPDATE
        SET closed_at = EXCLUDED.closed_at, result_code = EXCLUDED.result_code,
            claimed = EXCLUDED.claimed, counted = EXCLUDED.counted
    RETURNING 1
),
password_tries_written AS (
    INSERT INTO card_password_tries (card_id, password_version, tries, changed_at)
    SELECT w.card_id, w.password_version, w.tries, $49::timestamptz
    FROM unnest($50::text::bigint[], $51::text::integer[], $52::text::integer[])
         AS w(card_id, password_version, tries)
    ON CONFLICT (card_id) DO UPDATE
        SET password_version = EXCLUDED.password_version, tries = EXCLUDED.tries,
            changed_at = EXCLUDED.changed_at
    RETURNING 1
),
commands_decided AS (
    INSERT INTO command_outcomes (command_id, state, result_code, result, transaction_id,
                                  done_at, carried)
    SELECT d.id, d.state, d.result_code, d.result, d.transaction_id, $49::timestamptz,
           d.carried
    FROM unnest($54::text::bigint[], $55::text::text[], $56::text::text[], $57::text::text[],
                $58::text::bigint[], $108::text::bytea[])
         AS d(id, state, result_code, result, transaction_id, carried)
    RETURNING 1
),
cards_closed AS (
    INSERT INTO card_status_changes (card_id, status, transaction_id, changed_at)
    SELECT s.id, s.status, s.transaction_id, $49::timestamptz
    FROM unnest($59::text::bigint[], $60::text::text[], $96::text::bigint[])
         AS s(id, status, transaction_id)
    RETURNING card_id, status, transaction_id
),
draws_written AS (
    INSERT INTO lottery_draws (transaction_id, campaign_id, card_id, draw_number, draw_value,
                               prize_code)
    SELECT * FROM unnest($61::text::bigint[], $62::text::integer[], $63::text::bigint[],
                         $64::text::integer[], $65::text::integer[], $66::text::text[])
    RETURNING 1
),
prize_stock_written AS (
    INSERT INTO prize_stock (campaign_id, prize_code, partition, stock)
    SELECT s.campaign_id, s.prize_code, $95::text, s.stock
    FROM unnest($67::text::integer[], $68::text::text[], $69::text::bigint[])
         AS s(campaign_id, prize_code, stock)
    ON CONFLICT (campaign_id, prize_code, partition) DO UPDATE SET stock = EXCLUDED.stock
    RETURNING 1
),
gift_redemptions_written AS (
    INSERT INTO gift_redemptions (transaction_id, alliance_id, gift_code)
    SELECT * FROM unnest($70::text::bigint[], $71::text::integer[], $72::text::text[])
    RETURNING 1
),
gifts_written AS (
    INSERT INTO gift_stock (alliance_id, gift_code, partition, stock, active)
    SELECT s.alliance_id, s.gift_code, $95::text, s.stock, s.active
    FROM unnest($73::text::integer[], $74::text::text[], $75::text::bigint[],
                $76::text::boolean[]) AS s(alliance_id, gift_code, stock, active)
    ON CONFLICT (alliance_id, gift_code, partition) DO UPDATE
        SET stock = EXCLUDED.stock, active = EXCLUDED.active
    RETURNING 1
),
standings_written AS (
    INSERT INTO tier_standings (member_id, card_id, alliance_id, tier, tier_until, standing,
                                changed_at, seq)
    SELECT s.member_id, s.card_id, s.alliance_id, s.tier, s.tier_until, s.standing,
           $49::timestamptz, $86::text::bigint
    FROM unnest($80::text::bigint[], $81::text::bigint[], $82::text::integer[],
                $83::text::text[], $84::text::date[], $85::text::bytea[])
         AS s(member_id, card_id, alliance_id, tier, tier_until, standing)
    ON CONFLICT (holder) DO UPDATE
        SET tier = EXCLUDED.tier, tier_until = EXCLUDED.tier_until,
            standing = EXCLUDED.standing, changed_at = EXCLUDED.changed_at,
            seq = EXCLUDED.seq
    RETURNING 1
),
member_moves AS (   -- what each transaction moved on each card, per ledger
    SELECT e.transaction_id, a.card_id,
           coalesce(sum(p.amount) FILTER (WHERE a.kind = 'member_points'), 0) AS points,
           coalesce(sum(p.amount) FILTER (WHERE a.kind = 'member_stored_value'), 0)
               AS stored_value_fen,
           max(a.balance) FILTER (WHERE a.kind = 'member_points') AS points_final,
           max(a.balance) FILTER (WHERE a.kind = 'member_stored_value')
               AS stored_value_final
    FROM postings_written p
    JOIN entries_written e ON e.id = p.entry_id
    JOIN accounts_written a ON a.id = p.account_id AND a.card_id IS NOT NULL
    GROUP BY e.transaction_id, a.card_id
),
moved AS (   -- each move's balance after it: the batch's last less what the card's later
             -- moves added (a later move has a higher id: ids are taken in applying order)
    SELECT m.transaction_id, m.card_id, m.points, m.stored_value_fen,
           m.points_final - coalesce(sum(m.points) OVER later, 0) AS points_balance,
           m.stored_value_final - coalesce(sum(m.stored_value_fen) OVER later, 0)
               AS stored_value_balance_fen
    FROM member_moves m
    WINDOW later AS (PARTITION BY m.card_id ORDER BY m.transaction_id DESC
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
events_written AS (
    INSERT INTO notification_outbox (kind, card_id, transaction_id, transaction_kind, points,
                                     points_balance, stored_value_fen,
                                     stored_value_balance_fen, tier_before, tier, status,
                                     business_date, created_at)
    SELECT CASE WHEN m.stored_value_fen <> 0 THEN 'stored_value_moved'
                WHEN m.points > 0 THEN 'points_earned' ELSE 'points_spent' END,
           m.card_id, m.transaction_id, t.kind, m.points,
           CASE WHEN m.points <> 0 THEN m.points_balance END, m.stored_value_fen,
           CASE WHEN m.stored_value_fen <> 0 THEN m.stored_value_balance_fen END,
           NULL, NULL, NULL, t.business_date, $49::timestamptz
    FROM moved m
    JOIN transactions_written t ON t.id = m.transaction_id
    WHERE (m.points <> 0 OR m.stored_value_fen <> 0) AND t.kind <> 'points_expiry'
    UNION ALL
    SELECT 'card_blocked', c.card_id, c.transaction_id, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, c.status, NULL, $49::timestamptz
    FROM cards_closed c WHERE c.status IN ('blocked', 'lost', 'stolen')
    UNION ALL
    SELECT e.kind, e.card_id, NULL, NULL, NULL, NULL, NULL, NULL, e.tier_before, e.tier,
           NULL, NULL, $49::timestamptz
    FROM unnest($97::text::text[], $98::text::bigint[], $99::text::text[],
                $100::text::text[]) AS e(kind, card_id, tier_before, tier)
    ORDER BY transaction_id, card_id   -- ids in the journal's order: so is the sender's
),
risk_reviews_written AS (
    INSERT INTO risk_reviews (alliance_id, card_id, merchant_id, kind, level, business_date,
                              raised_at, detail)
    SELECT v.alliance_id, v.card_id, v.merchant_id, v.kind, v.level, v.business_date,
           $49::timestamptz, v.detail::jsonb
    FROM unnest($101::text::integer[], $102::text::bigint[], $103::text::integer[],
                $104::text::text[], $105::text::text[], $106::text::date[],
                $107::text::text[])
         AS v(alliance_id, card_id, merchant_id, kind, level, business_date, detail)
    RETURNING 1
),
bonuses_owed AS (
    INSERT INTO bonus_owed (transaction_id, member_id, referrer_card_id, alliance_id, points,
                            partition, owed_at)
    SELECT b.transaction_id, b.member_id, b.card_id, b.alliance_id, b.points, $95::text,
           $49::timestamptz
    FROM unnest($109::text::bigint[], $113::text::bigint[], $110::text::bigint[],
                $111::text::integer[], $112::text::bigint[])
         AS b(transaction_id, member_id, card_id, alliance_id, points)
    RETURNING 1
)
SELECT (SELECT count(*) FROM accounts_written) AS accounts,
       (SELECT count(*) FROM transactions_written) AS transactions,
       (SELECT count(*) FROM entries_written) AS entries,
       (SELECT count(*) FROM postings_written) AS postings,
       (SELECT count(*) FROM requests_written) AS requests,
       (SELECT count(*) FROM reviews_written) AS reviews,
       (SELECT count(*) FROM tombstones_written) AS tombstones,
       (SELECT count(*) FROM batches_written) AS batches,
       (SELECT count(*) FROM password_tries_written) AS password_tries,
       (SELECT count(*) FROM commands_decided) AS commands,
       (SELECT count(*) FROM cards_closed) AS card_statuses,
       (SELECT count(*) FROM draws_written) AS draws,
       (SELECT count(*) FROM prize_stock_written) AS prize_stock,
       (SELECT count(*) FROM gift_redemptions_written) AS gift_redemptions,
       (SELECT count(*) FROM gifts_written) AS gifts,
       (SELECT count(*) FROM standings_written) AS standings,
       (SELECT count(*) FROM risk_reviews_written) AS risk_reviews,
       (SELECT count(*) FROM bonuses_owed) AS bonuses_owed
"""

# One column of a batch's rows, in parameter order: its elements are of the type its encoder
# below takes (ints, texts, dates, ...), which differs from column to column.
_Column = list[Any]

# How each of the 48 columns before the posting instant is written, in parameter order ($1 ...
# $48); after it ($50 ...), the password tries' 3, the transactions' command ids, the
# commands' outcomes (5), the cards' statuses (2; their transactions are $96), the gift
# redemptions (3) and the gifts (4).
_ENCODERS: tuple[Callable[[Any], str], ...] = (
    # accounts: id, ledger, kind, card_id, merchant_id, alliance_id, balance
    int_array, text_array, text_array, int_array, int_array, int_array, int_array,
    # transactions: id, kind, business_date, terminal_code, merchant_id, card_id, batch_number,
    # mti, stan, transmission_time, rrn, auth_code, amount, currency, points,
    # original_transaction_id, stored_value_fen
    int_array, text_array, date_array, text_array, int_array, int_array, int_array,
    text_array, text_array, text_array, text_array, text_array, int_array, text_array,
    int_array, int_array, int_array,
    # journal entries: id, transaction_id, ledger, business_date
    int_array, int_array, text_array, date_array,
    # postings: entry_id, account_id, amount
    int_array, int_array, int_array,
    # host_requests: terminal_code, mti, stan, transmission_time, content_digest, answer
    text_array, text_array, text_array, text_array, bytea_array, bytea_array,
    # review items: transaction_id, reason
    int_array, text_array,
    # reversal tombstones: terminal_code, mti, stan, transmission_time
    text_array, text_array, text_array, text_array,
    # terminal batches: terminal_code, batch_number, opened_at, closed_at, result_code
    text_array, int_array, timestamp_array, timestamp_array, text_array,
)
# card password tries: card_id, password_version, tries
_PASSWORD_TRIES_ENCODERS: tuple[Callable[[Any], str], ...] = (int_array, int_array, int_array)
# transactions' command_id; commands: id, state, result_code, result, transaction_id; cards:
# id, status; lottery draws: transaction_id, campaign_id, card_id, draw_number, draw_value,
# prize_code; prize stock: campaign_id, prize_code, stock
_COMMANDS_ENCODERS: tuple[Callable[[Any], str], ...] = (
    int_array, int_array, text_array, text_array, text_array, int_array, int_array, text_array,
    int_array, int_array, int_array, int_array, int_array, text_array,
    int_array, text_array, int_array)
# gift redemptions: transaction_id, alliance_id, gift_code; gifts: alliance_id, gift_code,
# stock, active (as 't' or 'f')
_GIFTS_ENCODERS: tuple[Callable[[Any], str], ...] = (
    int_array, int_array, text_array, int_array, text_array, int_array, text_array)
# tier standings ($80 ...): member_id, card_id (one of them NULL), alliance_id, tier,
# tier_until (ISO dates or NULL, as text), standing (proto/tiers.py)
_STANDINGS_ENCODERS: tuple[Callable[[Any], str], ...] = (
    int_array, int_array, int_array, text_array, text_array, bytea_array)
# What a partition's move and reports need ($91 ...): host_requests' and tombstones' card ids
# (NULL: no card of this host), terminal batches' claimed and counted totals (each an array
# literal of proto/frames.py Totals, NULL while open)
_PARTITION_ENCODERS: tuple[Callable[[Any], str], ...] = (
    int_array, int_array, text_array, text_array)
# After them: the partition (the host's name, $95) whose stock rows the batch writes, the
# card statuses' transactions ($96), the state changes' notifications ($97 ... $100: kind,
# card_id, tier_before, tier), and the risk reviews ($101 ... $107): alliance_id, card_id,
# merchant_id (one of them NULL), kind, level, business_date, detail (JSON text); then the
# commands' outcomes' carried values ($108, a transfer's debit's: proto/transit.py), and the
# referral bonuses owed to another partition's card ($109 ... $113: the purchase's transaction,
# the referrer's card, the alliance, the points, the referred member).
_RISK_REVIEW_ENCODERS: tuple[Callable[[Any], str], ...] = (
    int_array, int_array, int_array, text_array, text_array, date_array, text_array)

# A tier standing's row: member_id, card_id, alliance_id, tier, tier_until (ISO date or None),
# the packed standing.
StandingRow = tuple[int | None, int | None, int, str, str | None, bytes]


class _StandingWrite(NamedTuple):
    """A holder's standing as it stands after the batch, and where it can go: on the points
    account of the card that changed it last (`account_id`, 0: none) unless the holder needs its
    tier_standings row written (`row_needed`: new, or its tier changed in the batch)."""

    row: StandingRow
    account_id: int
    row_needed: bool

# The batch statement's parameters, as `BatchWrite.arguments` builds them.
BatchArguments = tuple[str | datetime, ...]


class StoredCounters(Protocol):
    """The cards' earn counters as their points account rows keep them
    (account_host/earning/counters.py)."""

    def __len__(self) -> int: ...

    def stored(self, card_id: int) -> tuple[int, int] | None: ...


class BatchWrite:
    """The rows of one batch, as the statement's column arrays."""

    def __init__(self, posted_at: datetime, partition: str) -> None:
        self.posted_at = posted_at
        self.partition = partition   # this host's name: its gift_stock and prize_stock rows
        # account id -> (ledger, kind, card_id, merchant_id, alliance_id); one row per account
        # however often the batch posts to it, written with its final balance.
        self.accounts: dict[int, tuple[str, str, int | None, int | None, int | None]] = {}
        self.transactions: tuple[_Column, ...] = tuple([] for _ in range(17))
        self.command_ids: _Column = []    # the transactions' 18th column, a parameter apart
        # The transactions' lot moves (expiry/lots.py, stored as bytes), by row, and whether
        # any account's lots changed (see _lots_arguments).
        self.lot_moves: dict[int, bytes] = {}
        # What a transfer's debit took, by its index among the commands' outcomes ($108):
        # empty in nearly every batch.
        self.carried: dict[int, bytes] = {}
        # Referral bonuses owed to a card of another partition ($109 ...): the purchase's
        # transaction, the referrer's card, the alliance, the points, the referred member.
        # Empty nearly always.
        self.bonuses_owed: tuple[_Column, ...] = tuple([] for _ in range(5))
        self.lots_moved = False
        self.entries: tuple[_Column, ...] = tuple([] for _ in range(4))
        self.postings: tuple[_Column, ...] = tuple([] for _ in range(3))
        self.requests: tuple[_Column, ...] = tuple([] for _ in range(6))
        self.request_cards: _Column = []   # the requests' 7th column, a parameter apart
        self.reviews: tuple[_Column, ...] = tuple([] for _ in range(2))
        self.tombstones: tuple[_Column, ...] = tuple([] for _ in range(4))
        self.tombstone_cards: _Column = []
        # (terminal, batch number, opened_at) -> (closed_at, result code): a batch closed and
        # the next opened in one group commit are one row each, the last state winning; its
        # totals claimed and counted, as array literals, apart (None while open).
        self.batches: dict[tuple[str, int, datetime], tuple[datetime | None, str | None]] = {}
        self.batch_totals: dict[tuple[str, int, datetime], tuple[str | None, str | None]] = {}
        # card id -> (password version, wrong tries): one row per card, the last count winning.
        self.password_tries: dict[int, tuple[int, int]] = {}
        # Back-office commands decided: id, state, result code, result, transaction id.
        self.commands: tuple[_Column, ...] = tuple([] for _ in range(5))
        # card id -> the status a command gave it (closed, or active for a replacing card),
        # and that command's transaction.
        self.card_statuses: dict[int, tuple[str, int]] = {}
        # Lottery draws, and the stock of the limited prizes as it stands after this batch.
        self.draws: tuple[_Column, ...] = tuple([] for _ in range(6))
        self.prize_stock: dict[tuple[int, str], int] = {}
        # The gift each redemption of the batch took: transaction id, alliance id, gift code.
        self.gift_redemptions: tuple[_Column, ...] = tuple([] for _ in range(3))
        # (alliance id, gift code) -> (stock, active): one row per gift, the last state winning.
        self.gifts: dict[tuple[int, str], tuple[int | None, bool]] = {}
        # holder -> its standing as it stands after this batch (one per holder).
        self.standings: dict[int, _StandingWrite] = {}
        self.standing_rows = 0   # of them, those written as tier_standings rows (arguments)
        # Notifications of state changes the batch made (tier changed, password locked): kind,
        # card id, tier before, tier. Postings' and card statuses' are derived in SQL.
        self.state_events: tuple[_Column, ...] = tuple([] for _ in range(4))
        # Risk reviews the batch's earnings raised (account_host/risk/checks.py).
        self.risk_reviews: tuple[_Column, ...] = tuple([] for _ in range(7))

    def add_transaction(
        self, transaction_id: int, kind: str, business_date: date, request: Request, *,
        merchant_id: int, card_id: int | None, rrn: str | None, auth_code: str | None,
        amount: int, currency: str, points: int, stored_value_fen: int = 0,
        original_transaction_id: int | None = None,
    ) -> None:
        row = (transaction_id, kind, business_date, request.terminal_code, merchant_id, card_id,
               request.batch_number, request.mti, request.stan, request.transmission_time, rrn,
               auth_code, amount, currency, points, original_transaction_id, stored_value_fen)
        for column, value in zip(self.transactions, row, strict=True):
            column.append(value)
        self.command_ids.append(None)

    def add_bonus_transaction(
        self, transaction_id: int, kind: str, business_date: date, *, card_id: int,
        points: int, original_transaction_id: int,
    ) -> None:
        """A bonus the host posts with the transaction it rewards: no terminal or merchant."""
        row = (transaction_id, kind, business_date, None, None, card_id, None, None, None,
               None, None, None, points, "999", points, original_transaction_id, 0)
        for column, value in zip(self.transactions, row, strict=True):
            column.append(value)
        self.command_ids.append(None)

    def add_expiry_transaction(
        self, transaction_id: int, kind: str, business_date: date, *, card_id: int,
        points: int,
    ) -> None:
        """Points of a card that expired (a sweep command's): no terminal, merchant or
        command id (one command books many cards)."""
        row = (transaction_id, kind, business_date, None, None, card_id, None, None, None,
               None, None, None, points, "999", -points, None, 0)
        for column, value in zip(self.transactions, row, strict=True):
            column.append(value)
        self.command_ids.append(None)

    def add_command_transaction(
        self, transaction_id: int, kind: str, business_date: date, command_id: int, *,
        card_id: int, amount: int, currency: str, points: int, stored_value_fen: int,
    ) -> None:
        """A back-office command's transaction: no terminal, message or merchant."""
        row = (transaction_id, kind, business_date, None, None, card_id, None, None, None,
               None, None, None, amount, currency, points, None, stored_value_fen)
        for column, value in zip(self.transactions, row, strict=True):
            column.append(value)
        self.command_ids.append(command_id)

    def name_command(self, index: int, transaction_id: int, command_id: int) -> None:
        """The transaction at `index` (added by a terminal's handler for an imported purchase)
        is `command_id`'s: it names the command, as a command's own transaction does."""
        assert self.transactions[0][index] == transaction_id, "another transaction"
        assert self.command_ids[index] is None, "a transaction names one command"
        self.command_ids[index] = command_id

    def decide_command(
        self, command_id: int, result_code: str, result: str, transaction_id: int | None,
        carried: bytes | None = None,
    ) -> None:
        """A command's outcome: done (00: with its transaction, none for a gift command) or
        refused (with none); `carried`: what a transfer's debit took (proto/transit.py)."""
        state = "done" if result_code == "00" else "refused"
        assert transaction_id is None or state == "done"
        for column, value in zip(self.commands,
                                 (command_id, state, result_code, result, transaction_id),
                                 strict=True):
            column.append(value)
        if carried is not None:
            self.carried[len(self.commands[0]) - 1] = carried

    def owe_bonus(self, transaction_id: int, card_id: int, alliance_id: int, points: int,
                  member_id: int) -> None:
        """A referral bonus of the purchase `transaction_id` (by referred member `member_id`)
        owed to `card_id`, a card of another partition (migration 042: central makes it a
        credit there)."""
        for column, value in zip(self.bonuses_owed,
                                 (transaction_id, card_id, alliance_id, points, member_id),
                                 strict=True):
            column.append(value)

    def set_lot_moves(self, transaction_id: int, moves: bytes) -> None:
        """The lot moves of the transaction added last (which must be `transaction_id`)."""
        index = len(self.command_ids) - 1
        assert self.transactions[0][index] == transaction_id, "moves of another transaction"
        self.lot_moves[index] = moves
        self.lots_moved = True

    def set_card_status(self, card_id: int, status: str, transaction_id: int) -> None:
        """The status the command of `transaction_id` gives the card."""
        self.card_statuses[card_id] = (status, transaction_id)

    def add_draw(self, transaction_id: int, campaign_id: int, card_id: int, draw_number: int,
                 value: int, prize_code: str) -> None:
        for column, value_ in zip(self.draws, (transaction_id, campaign_id, card_id,
                                               draw_number, value, prize_code), strict=True):
            column.append(value_)

    def set_prize_stock(self, campaign_id: int, prize_code: str, stock: int) -> None:
        assert stock >= 0
        self.prize_stock[campaign_id, prize_code] = stock

    def add_gift_redemption(self, transaction_id: int, alliance_id: int, gift_code: str) -> None:
        for column, value in zip(self.gift_redemptions, (transaction_id, alliance_id, gift_code),
                                 strict=True):
            column.append(value)

    def set_gift(self, alliance_id: int, gift_code: str, stock: int | None, active: bool) -> None:
        """A gift's stock and state as they stand after this batch."""
        assert stock is None or stock >= 0, "a gift's stock is never below zero"
        self.gifts[alliance_id, gift_code] = (stock, active)

    def set_standing(
        self, holder: int, row: StandingRow, *, account_id: int, row_needed: bool,
    ) -> None:
        """A tier standing as it stands after this batch: (member_id, card_id, alliance_id,
        tier, tier_until, standing), the last state winning. It goes on `account_id` (the
        points account of the card that changed it) if the batch writes that account and no
        change of the batch needed the holder's row."""
        assert (row[0] is None) != (row[1] is None), "a member's or a card's"
        earlier = self.standings.get(holder)
        self.standings[holder] = _StandingWrite(
            row, account_id, row_needed or (earlier is not None and earlier.row_needed))

    def add_state_event(
        self, kind: str, card_id: int, tier_before: str | None = None, tier: str | None = None,
    ) -> None:
        """A member's notification of a state change of this batch (proto/notifications.py),
        written to the outbox in the batch's statement."""
        for column, value in zip(self.state_events, (kind, card_id, tier_before, tier),
                                 strict=True):
            column.append(value)

    def add_entry(
        self, entry_id: int, transaction_id: int, ledger: str, business_date: date,
        postings: tuple[tuple[int, int], ...],
    ) -> None:
        """Record a journal entry (the caller applies its postings to the balances)."""
        assert sum(amount for _, amount in postings) == 0, "a journal entry must sum to zero"
        assert len({account_id for account_id, _ in postings}) == len(postings), \
            "an entry posts to an account once"
        for column, value in zip(self.entries, (entry_id, transaction_id, ledger, business_date),
                                 strict=True):
            column.append(value)
        entry_ids, account_ids, amounts = self.postings
        for account_id, amount in postings:
            assert account_id in self.accounts, "posting to an account the batch does not know"
            entry_ids.append(entry_id)
            account_ids.append(account_id)
            amounts.append(amount)

    def add_request(
        self, request: Request, digest: bytes, answer: bytes, card_id: int | None = None,
    ) -> None:
        """A request remembered with its first answer; `card_id`: field 2's card, if held."""
        row = (request.terminal_code, request.mti, request.stan, request.transmission_time,
               digest, answer)
        for column, value in zip(self.requests, row, strict=True):
            column.append(value)
        self.request_cards.append(card_id)

    def add_review(self, transaction_id: int, reason: str) -> None:
        """Flag a transaction (of this batch or earlier) for an operator's review."""
        self.reviews[0].append(transaction_id)
        self.reviews[1].append(reason)

    def add_risk_review(
        self, alliance_id: int, card_id: int | None, merchant_id: int | None, kind: str,
        level: str, business_date: date, detail: str,
    ) -> None:
        """A review for the risk queue (risk_reviews), raised by this batch."""
        assert (card_id is None) != (merchant_id is None), "a card's or a merchant's"
        for column, value in zip(self.risk_reviews, (alliance_id, card_id, merchant_id, kind,
                                                     level, business_date, detail),
                                 strict=True):
            column.append(value)

    def add_tombstone(
        self, terminal_code: str, mti: str, stan: str, time: str, card_id: int | None = None,
    ) -> None:
        for column, value in zip(self.tombstones, (terminal_code, mti, stan, time),
                                 strict=True):
            column.append(value)
        self.tombstone_cards.append(card_id)

    def set_batch(
        self, terminal_code: str, batch_number: int, opened_at: datetime,
        closed_at: datetime | None, result_code: str | None, *,
        claimed: Totals | None = None, counted: Totals | None = None,
    ) -> None:
        """A terminal batch row: closed (with its result, and the totals the terminal claimed
        and this host counted) or opened (closed_at None)."""
        key = (terminal_code, batch_number, opened_at)
        self.batches[key] = (closed_at, result_code)
        self.batch_totals[key] = (_totals_literal(claimed), _totals_literal(counted))

    def set_password_tries(self, card_id: int, password_version: int, tries: int) -> None:
        """A card's wrong password tries in a row, as they stand after this batch."""
        assert tries >= 0
        self.password_tries[card_id] = (password_version, tries)

    def arguments(
        self, balances: Mapping[int, int], lots: Mapping[int, bytes], standing_seq: int,
        counters: StoredCounters,
    ) -> BatchArguments:
        """The statement's 113 parameters, accounts with their final balances, lots, standings
        and earn counters: each column as an array literal (array_literals.py), the posting
        instant as a datetime. `standing_seq`: this batch's, above every earlier batch's
        (HostState)."""
        on_accounts, rows = self._standings_placed()
        account_columns: tuple[_Column, ...] = tuple([] for _ in range(7))
        for account_id, (ledger, kind, card_id, merchant_id, alliance_id) in \
                self.accounts.items():
            row = (account_id, ledger, kind, card_id, merchant_id, alliance_id,
                   balances[account_id])
            for column, value in zip(account_columns, row, strict=True):
                column.append(value)
        batch_columns: tuple[_Column, ...] = tuple([] for _ in range(5))
        for key, outcome in self.batches.items():
            for column, cell in zip(batch_columns, (*key, *outcome), strict=True):
                column.append(cell)
        columns = (*account_columns, *self.transactions, *self.entries, *self.postings,
                   *self.requests, *self.reviews, *self.tombstones, *batch_columns)
        partition_columns: tuple[_Column, ...] = (
            self.request_cards, self.tombstone_cards,
            [claimed for claimed, _ in self.batch_totals.values()],
            [counted for _, counted in self.batch_totals.values()])
        tries_columns: tuple[_Column, ...] = (
            list(self.password_tries),
            [version for version, _ in self.password_tries.values()],
            [tries for _, tries in self.password_tries.values()])
        command_columns: tuple[_Column, ...] = (
            self.command_ids, *self.commands, list(self.card_statuses),
            [status for status, _ in self.card_statuses.values()], *self.draws,
            [campaign for campaign, _ in self.prize_stock],
            [code for _, code in self.prize_stock], list(self.prize_stock.values()))
        gift_columns: tuple[_Column, ...] = (
            *self.gift_redemptions,
            [alliance_id for alliance_id, _ in self.gifts],
            [gift_code for _, gift_code in self.gifts],
            [stock for stock, _ in self.gifts.values()],
            ["t" if active else "f" for _, active in self.gifts.values()])
        standing_columns: tuple[_Column, ...] = tuple(
            list(column) for column in zip(*rows, strict=True)) \
            if rows else tuple([] for _ in range(6))
        return (*[encode(column) for encode, column in zip(_ENCODERS, columns, strict=True)],
                self.posted_at,
                *[encode(column) for encode, column
                  in zip(_PASSWORD_TRIES_ENCODERS, tries_columns, strict=True)],
                *[encode(column) for encode, column
                  in zip(_COMMANDS_ENCODERS, command_columns, strict=True)],
                *[encode(column) for encode, column
                  in zip(_GIFTS_ENCODERS, gift_columns, strict=True)],
                *self._lots_arguments(lots),
                *[encode(column) for encode, column
                  in zip(_STANDINGS_ENCODERS, standing_columns, strict=True)],
                str(standing_seq), *self._account_standings(on_accounts),
                *self._counter_arguments(counters),
                *[encode(column) for encode, column
                  in zip(_PARTITION_ENCODERS, partition_columns, strict=True)],
                self.partition,
                int_array([transaction_id for _, transaction_id
                           in self.card_statuses.values()]),
                *self._state_event_arguments(),
                *[encode(column) for encode, column
                  in zip(_RISK_REVIEW_ENCODERS, self.risk_reviews, strict=True)],
                self._carried_argument(), *self._bonus_arguments())

    def _bonus_arguments(self) -> tuple[str, str, str, str, str]:
        """The bonuses owed ($109 ... $113): empty arrays in nearly every batch."""
        if not self.bonuses_owed[0]:
            return "{}", "{}", "{}", "{}", "{}"
        transactions, cards, alliances, points, members = self.bonuses_owed
        return (int_array(transactions), int_array(cards), int_array(alliances),
                int_array(points), int_array(members))

    def _carried_argument(self) -> str:
        """The outcomes' carried values ($108): an empty array (NULLs, by unnest's padding)
        unless a transfer's debit is among them."""
        if not self.carried:
            return "{}"
        return nullable_bytea_array([self.carried.get(index)
                                     for index in range(len(self.commands[0]))])

    def _state_event_arguments(self) -> tuple[str, str, str, str]:
        """The state changes' events ($97 ...): empty arrays in nearly every batch."""
        kinds, cards, tiers_before, tiers = self.state_events
        if not kinds:
            return "{}", "{}", "{}", "{}"
        return text_array(kinds), int_array(cards), text_array(tiers_before), text_array(tiers)

    def _standings_placed(self) -> tuple[dict[int, tuple[bytes, int]], list[StandingRow]]:
        """Where each standing of the batch goes: on an account the batch writes anyway
        (account id -> standing, holder), else its tier_standings row."""
        on_accounts: dict[int, tuple[bytes, int]] = {}
        rows: list[StandingRow] = []
        for holder, write in self.standings.items():
            if write.account_id in self.accounts and not write.row_needed:
                on_accounts[write.account_id] = (write.row[5], holder)
            else:
                rows.append(write.row)
        self.standing_rows = len(rows)
        return on_accounts, rows

    def _account_standings(self, on_accounts: dict[int, tuple[bytes, int]]) -> tuple[str, str]:
        """The accounts' standing and holder columns: empty arrays (NULLs: the rows keep the
        copies they have) where no standing goes on an account."""
        if not on_accounts:
            return "{}", "{}"
        placed = [on_accounts.get(account_id) for account_id in self.accounts]
        return (nullable_bytea_array([None if at is None else at[0] for at in placed]),
                int_array([None if at is None else at[1] for at in placed]))

    def _counter_arguments(self, counters: StoredCounters) -> tuple[str, str]:
        """The points accounts' counted_day and counted_month: their cards' counters as they
        stand (earning/counters.py); empty arrays (NULLs: the rows keep theirs) where no card
        of the batch is counted, as where no alliance has caps per day or month."""
        if not len(counters):   # no alliance counts: no call per account
            return "{}", "{}"
        stored = [counters.stored(card_id) if card_id and kind == AccountKind.MEMBER_POINTS
                  else None for _, kind, card_id, _, _ in self.accounts.values()]
        if not any(stored):
            return "{}", "{}"
        return (int_array([None if pair is None else pair[0] for pair in stored]),
                int_array([None if pair is None else pair[1] for pair in stored]))

    def _lots_arguments(self, lots: Mapping[int, bytes]) -> tuple[str, str, str]:
        """The points accounts' lots and their soonest day, and the transactions' lot moves.
        Memory mirrors the rows: where no account of the batch has lots and none moved, every
        row's lots are NULL already, and the columns go as empty arrays (unnest pads them with
        NULLs at no cost: the case of every alliance whose points never expire)."""
        account_lots: list[bytes | None] = []
        first_days: list[int | None] = []
        any_lots = self.lots_moved
        for account_id in self.accounts:
            packed = lots.get(account_id)
            account_lots.append(packed)
            if packed is not None:
                first_days.append(soonest_day(packed))
                any_lots = True
            else:
                first_days.append(None)
        if not any_lots:
            return "{}", "{}", "{}"
        moves = [self.lot_moves.get(index) for index in range(len(self.command_ids))]
        return (nullable_bytea_array(account_lots), int_array(first_days),
                nullable_bytea_array(moves))

    def is_empty(self) -> bool:
        """Nothing to write: every request was a retransmission or a 94, and no command was
        decided. Any other request is recorded in host_requests, any command decided in
        command_outcomes, and nothing is written without one of them."""
        return not self.requests[0] and not self.commands[0]

    def marker(self) -> tuple[str, str, str, str, bytes, datetime] | tuple[int, datetime]:
        """The batch's first host_requests row (key, digest, received_at), or its first
        command (id, done_at): it is there after a restart if and only if the whole batch
        committed."""
        assert not self.is_empty()
        if not self.requests[0]:
            return (self.commands[0][0], self.posted_at)
        terminal_codes, mtis, stans, times, digests, _ = self.requests
        return (terminal_codes[0], mtis[0], stans[0], times[0], digests[0], self.posted_at)

    def expected_counts(self) -> tuple[int, ...]:
        """Rows the statement must report: accounts, transactions, entries, postings, requests,
        review items, tombstones, terminal batches, card password tries, commands, card
        statuses, lottery draws, prize stock, gift redemptions, gifts, tier standings, risk
        reviews, bonuses owed."""
        return (len(self.accounts), len(self.transactions[0]), len(self.entries[0]),
                len(self.postings[0]), len(self.requests[0]), len(self.reviews[0]),
                len(self.tombstones[0]), len(self.batches), len(self.password_tries),
                len(self.commands[0]), len(self.card_statuses), len(self.draws[0]),
                len(self.prize_stock), len(self.gift_redemptions[0]), len(self.gifts),
                self.standing_rows, len(self.risk_reviews[0]), len(self.bonuses_owed[0]))


def _totals_literal(totals: Totals | None) -> str | None:
    """A batch's totals as a bigint[] literal, in Totals' field order."""
    if totals is None:
        return None
    return "{" + ",".join(str(value) for value in msgspec.structs.astuple(totals)) + "}"
