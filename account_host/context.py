"""What a transaction handler works with while one batch is applied: the state, identifiers,
the batch's rows, and the batch's clock. Accounts are created here, lazily, at their first
posting, with ids from the host's own allocator; postings go through here, so that the balances
and the batch's rows never disagree.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from account_host.card_store import Card
from account_host.chart import (
    ACCOUNT_KINDS,
    MONEY_LEDGER,
    POINTS_LEDGER,
    AccountKind,
    Owner,
    owner_columns,
)
from account_host.earning.earn import Earning, Moment
from account_host.identifiers import ACCOUNT, ENTRY, TRANSACTION, Identifiers
from account_host.journal import BatchWrite
from account_host.movements import Posted
from account_host.risk.settings import VelocityLimit
from account_host.state import HostState
from proto.business_date import business_date

_ONE_DAY = timedelta(days=1)


class Approval:
    """The identifiers of an approved transaction."""

    __slots__ = ("auth_code", "rrn", "transaction_id")

    def __init__(self, transaction_id: int, rrn: str | None, auth_code: str | None) -> None:
        self.transaction_id = transaction_id
        self.rrn = rrn
        self.auth_code = auth_code


class ApplyContext:
    """One batch's view; every request of the batch sees the same instant `now`."""

    def __init__(
        self, state: HostState, identifiers: Identifiers, batch: BatchWrite, now: datetime,
        *, default_partition: bool = True,
    ) -> None:
        self.state = state
        # Whether this host gives a terminal it never saw batch 000001 (HostConfig
        # .is_default_partition); any other partition adopts the number asked about.
        self.default_partition = default_partition
        self.identifiers = identifiers
        self.batch = batch
        self.now = now
        self.now_s = int(now.timestamp())
        self.today_ordinal = now.date().toordinal()   # UTC date, for card expiry
        self._business_dates: dict[int, date] = {}
        self._earnings: dict[int, Earning] = {}
        self._local_days: dict[int, int] = {}
        # The request being applied: its retransmission key, and what it posted (apply.py
        # remembers that with its answer, for a reversal).
        self.request_key = ""
        self.posted: Posted | None = None
        # An imported purchase's business date (still open), while it is applied: what it
        # posts goes on that date instead of the batch's (commands/imported_purchase.py).
        self.dated: date | None = None
        # The limit the request's velocity check counts it under if approved (risk/checks.py).
        self.velocity_limit: VelocityLimit | None = None

    def business_date(self, alliance_id: int) -> date:
        """The alliance's business date at this batch's instant: never a date clearing has
        sealed, so late advices and reversals post to the open date (docs/clearing.md); an
        imported purchase's own date while it is applied (`dated`, checked open)."""
        if self.dated is not None:
            return self.dated
        cached = self._business_dates.get(alliance_id)
        if cached is None:
            alliance = self.state.alliances[alliance_id]
            cached = business_date(self.now, alliance.timezone, alliance.cutover_local_time)
            if alliance.sealed_through is not None and cached <= alliance.sealed_through:
                cached = alliance.sealed_through + _ONE_DAY
            self._business_dates[alliance_id] = cached
        return cached

    def local_day(self, alliance_id: int) -> int:
        """The ordinal of the alliance's local date at this batch's instant."""
        day = self._local_days.get(alliance_id)
        if day is None:
            timezone = self.state.alliances[alliance_id].timezone
            day = self._local_days[alliance_id] = \
                self.now.astimezone(timezone).date().toordinal()
        return day

    def earning(self, alliance_id: int) -> Earning:
        """The alliance's earn rules at this batch's instant, in its time zone."""
        earning = self._earnings.get(alliance_id)
        if earning is None:
            local = self.now.astimezone(self.state.alliances[alliance_id].timezone)
            book = self.state.rule_books.get(alliance_id)
            rules = book.in_force(local.date()) if book is not None else None
            earning = self._earnings[alliance_id] = Earning(rules, Moment(local.date(),
                                                                          local.hour))
        return earning

    def approve(self, *, with_rrn: bool = True) -> Approval:
        """Identifiers for an approved transaction: past this call it must be written."""
        identifiers = self.identifiers
        if not with_rrn:
            return Approval(identifiers.next_id(TRANSACTION), None, None)
        return Approval(identifiers.next_id(TRANSACTION), identifiers.next_rrn(),
                        identifiers.next_auth_code())

    # ---- accounts: call these only right before posting ---------------------------------

    def member_points_account(self, card: Card) -> int:
        if not card.points_account_id:
            card.points_account_id = self._new_account()
        self.batch.accounts[card.points_account_id] = (
            POINTS_LEDGER, AccountKind.MEMBER_POINTS, card.id, None, None)
        return card.points_account_id

    def member_stored_value_account(self, card: Card) -> int:
        if not card.stored_value_account_id:
            card.stored_value_account_id = self._new_account()
        self.batch.accounts[card.stored_value_account_id] = (
            MONEY_LEDGER, AccountKind.MEMBER_STORED_VALUE, card.id, None, None)
        return card.stored_value_account_id

    def owner_account(self, kind: AccountKind, owner_id: int) -> int:
        """A merchant's or the alliance's account of `kind`."""
        ledger, owner = ACCOUNT_KINDS[kind]
        assert owner is not Owner.CARD, "member accounts live on the card"
        state = self.state
        key = (kind, owner_id)
        account_id = state.owner_accounts.get(key)
        if account_id is None:
            account_id = state.owner_accounts[key] = self._new_account()
            _, merchant_id, alliance_id = owner_columns(kind, owner_id)   # no card: asserted
            state.owner_account_rows[account_id] = (
                ledger, kind, None, merchant_id, alliance_id)
        self.batch.accounts[account_id] = state.owner_account_rows[account_id]
        return account_id

    def existing_account(self, account_id: int, card_id: int, ledger: str) -> int:
        """An account that a posting of an earlier transaction created (a reversal posts to
        them again): the card's account in `ledger`, or a merchant's or the alliance's."""
        assert account_id in self.state.balances, "posting to an account that does not exist"
        row: tuple[str, str, int | None, int | None, int | None] | None = \
            self.state.owner_account_rows.get(account_id)
        if row is None:
            kind = (AccountKind.MEMBER_POINTS if ledger == POINTS_LEDGER
                    else AccountKind.MEMBER_STORED_VALUE)
            row = (ledger, kind, card_id, None, None)
        assert row[0] == ledger, "an entry stays within its ledger"
        self.batch.accounts[account_id] = row
        return account_id

    def _new_account(self) -> int:
        account_id = self.identifiers.next_id(ACCOUNT)
        assert account_id not in self.state.balances, "account id reused"
        self.state.balances[account_id] = 0
        return account_id

    # ---- postings --------------------------------------------------------------------

    def post(
        self, transaction_id: int, ledger: str, entry_date: date,
        postings: tuple[tuple[int, int], ...],
    ) -> None:
        """Apply one balanced journal entry to the balances and record it in the batch."""
        entry_id = self.identifiers.next_id(ENTRY)
        self.batch.add_entry(entry_id, transaction_id, ledger, entry_date, postings)
        balances = self.state.balances
        for account_id, amount in postings:
            balances[account_id] += amount   # past 64 bits (the column's), OverflowError

    def post_movement(self, posted: Posted, entry_date: date) -> None:
        """The entries of a movement: member against counter account, one per ledger moved."""
        if posted.points:
            self.post(posted.transaction_id, POINTS_LEDGER, entry_date, (
                (posted.points_account_id, posted.points),
                (posted.points_counter_account_id, -posted.points)))
        if posted.stored_value_fen:
            self.post(posted.transaction_id, MONEY_LEDGER, entry_date, (
                (posted.stored_value_account_id, posted.stored_value_fen),
                (posted.stored_value_counter_account_id, -posted.stored_value_fen)))

