"""The batch statement: everything one group commit writes, in one round trip.

A batch's rows are gathered in column arrays while it is applied, and written by a single
statement of data-modifying CTEs over `unnest` of those arrays: accounts (created, or their
balance set to the batch's final balance), transactions, journal entries, postings and
host_requests. One statement is one implicit transaction, and its foreign keys are checked at
its end, when every row of the batch is in place.
"""

from __future__ import annotations

from datetime import date, datetime

from proto.frames import Request

POINTS_LEDGER = "points"
MONEY_LEDGER = "money"

BATCH_SQL = """
WITH
accounts_written AS (
    INSERT INTO accounts (id, ledger, kind, card_id, merchant_id, alliance_id, balance)
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::integer[],
                         $6::integer[], $7::bigint[])
    ON CONFLICT (id) DO UPDATE SET balance = EXCLUDED.balance
    RETURNING 1
),
transactions_written AS (
    INSERT INTO transactions (id, kind, business_date, posted_at, terminal_code, merchant_id,
                              card_id, batch_number, mti, stan, transmission_time, rrn,
                              auth_code, amount, currency, points, original_transaction_id)
    SELECT t.id, t.kind, t.business_date, $37::timestamptz, t.terminal_code, t.merchant_id,
           t.card_id, t.batch_number, t.mti, t.stan, t.transmission_time, t.rrn, t.auth_code,
           t.amount, t.currency, t.points, t.original_transaction_id
    FROM unnest($8::bigint[], $9::text[], $10::date[], $11::text[], $12::integer[],
                $13::bigint[], $14::integer[], $15::text[], $16::text[], $17::text[],
                $18::text[], $19::text[], $20::bigint[], $21::text[], $22::bigint[],
                $23::bigint[])
         AS t(id, kind, business_date, terminal_code, merchant_id, card_id, batch_number, mti,
              stan, transmission_time, rrn, auth_code, amount, currency, points,
              original_transaction_id)
    RETURNING 1
),
entries_written AS (
    INSERT INTO journal_entries (id, transaction_id, ledger, business_date)
    SELECT * FROM unnest($24::bigint[], $25::bigint[], $26::text[], $27::date[])
    RETURNING 1
),
postings_written AS (
    INSERT INTO postings (entry_id, account_id, amount)
    SELECT * FROM unnest($28::bigint[], $29::bigint[], $30::bigint[])
    RETURNING 1
),
requests_written AS (
    INSERT INTO host_requests (terminal_code, mti, stan, transmission_time, content_digest,
                               answer, received_at)
    SELECT r.terminal_code, r.mti, r.stan, r.transmission_time, r.content_digest, r.answer,
           $37::timestamptz
    FROM unnest($31::text[], $32::text[], $33::text[], $34::text[], $35::bytea[],
                $36::bytea[])
         AS r(terminal_code, mti, stan, transmission_time, content_digest, answer)
    ON CONFLICT (terminal_code, mti, stan, transmission_time) DO UPDATE
        SET content_digest = EXCLUDED.content_digest, answer = EXCLUDED.answer,
            received_at = EXCLUDED.received_at
    RETURNING 1
)
SELECT (SELECT count(*) FROM accounts_written) AS accounts,
       (SELECT count(*) FROM transactions_written) AS transactions,
       (SELECT count(*) FROM entries_written) AS entries,
       (SELECT count(*) FROM postings_written) AS postings,
       (SELECT count(*) FROM requests_written) AS requests
"""


class BatchWrite:
    """The rows of one batch, as the statement's column arrays."""

    def __init__(self, posted_at: datetime) -> None:
        self.posted_at = posted_at
        # account id -> (ledger, kind, card_id, merchant_id, alliance_id); one row per account
        # however often the batch posts to it, written with its final balance.
        self.accounts: dict[int, tuple[str, str, int | None, int | None, int | None]] = {}
        self.transactions: tuple[list, ...] = tuple([] for _ in range(16))
        self.entries: tuple[list, ...] = tuple([] for _ in range(4))
        self.postings: tuple[list, ...] = tuple([] for _ in range(3))
        self.requests: tuple[list, ...] = tuple([] for _ in range(6))

    def add_transaction(
        self, transaction_id: int, kind: str, business_date: date, request: Request, *,
        merchant_id: int, card_id: int | None, rrn: str | None, auth_code: str | None,
        amount: int, currency: str, points: int, original_transaction_id: int | None = None,
    ) -> None:
        row = (transaction_id, kind, business_date, request.terminal_code, merchant_id, card_id,
               request.batch_number, request.mti, request.stan, request.transmission_time, rrn,
               auth_code, amount, currency, points, original_transaction_id)
        for column, value in zip(self.transactions, row, strict=True):
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

    def add_request(self, request: Request, digest: bytes, answer: bytes) -> None:
        row = (request.terminal_code, request.mti, request.stan, request.transmission_time,
               digest, answer)
        for column, value in zip(self.requests, row, strict=True):
            column.append(value)

    def arguments(self, balances: dict[int, int]) -> tuple:
        """The statement's 37 parameters, accounts with their final balances."""
        account_columns: tuple[list, ...] = tuple([] for _ in range(7))
        for account_id, (ledger, kind, card_id, merchant_id, alliance_id) in \
                self.accounts.items():
            row = (account_id, ledger, kind, card_id, merchant_id, alliance_id,
                   balances[account_id])
            for column, value in zip(account_columns, row, strict=True):
                column.append(value)
        terminal_codes, mtis, stans, times, digests, answers = self.requests
        return (*account_columns, *self.transactions, *self.entries, *self.postings,
                terminal_codes, mtis, stans, times, digests, answers, self.posted_at)

    def is_empty(self) -> bool:
        """Nothing to write: every request was a retransmission or a 94. Any other request is
        recorded in host_requests, and nothing is written without one."""
        return not self.requests[0]

    def marker(self) -> tuple[str, str, str, str, bytes, datetime]:
        """The batch's first host_requests row (key, digest, received_at): it is there after
        a restart if and only if the whole batch committed."""
        assert not self.is_empty()
        terminal_codes, mtis, stans, times, digests, _ = self.requests
        return (terminal_codes[0], mtis[0], stans[0], times[0], digests[0], self.posted_at)

    def expected_counts(self) -> tuple[int, int, int, int, int]:
        """Rows the statement must report: accounts, transactions, entries, postings, requests."""
        return (len(self.accounts), len(self.transactions[0]), len(self.entries[0]),
                len(self.postings[0]), len(self.requests[0]))
