"""What a transaction handler works with while one batch is applied: the state, identifiers,
the batch's rows, and the batch's clock. Accounts are created here, lazily, at their first
posting, with ids from the host's own allocator.
"""

from __future__ import annotations

from datetime import date, datetime

from account_host.business_date import business_date
from account_host.identifiers import ACCOUNT, ENTRY, Identifiers
from account_host.journal import MONEY_LEDGER, POINTS_LEDGER, BatchWrite
from account_host.state import Card, HostState, Merchant

MEMBER_POINTS = "member_points"
MEMBER_STORED_VALUE = "member_stored_value"
MERCHANT_POINTS_ISSUED = "merchant_points_issued"


class ApplyContext:
    """One batch's view; every request of the batch sees the same instant `now`."""

    def __init__(
        self, state: HostState, identifiers: Identifiers, batch: BatchWrite, now: datetime
    ) -> None:
        self.state = state
        self.identifiers = identifiers
        self.batch = batch
        self.now = now
        self.now_s = int(now.timestamp())
        self.today_ordinal = now.date().toordinal()   # UTC date, for card expiry
        self._business_dates: dict[int, date] = {}

    def business_date(self, alliance_id: int) -> date:
        """The alliance's business date at this batch's instant."""
        cached = self._business_dates.get(alliance_id)
        if cached is None:
            alliance = self.state.alliances[alliance_id]
            cached = business_date(self.now, alliance.timezone, alliance.cutover_local_time)
            self._business_dates[alliance_id] = cached
        return cached

    # ---- accounts: call these only right before posting ---------------------------------

    def member_points_account(self, card: Card) -> int:
        if not card.points_account_id:
            card.points_account_id = self._new_account()
        self.batch.accounts[card.points_account_id] = (
            POINTS_LEDGER, MEMBER_POINTS, card.id, None, None)
        return card.points_account_id

    def member_stored_value_account(self, card: Card) -> int:
        if not card.stored_value_account_id:
            card.stored_value_account_id = self._new_account()
        self.batch.accounts[card.stored_value_account_id] = (
            MONEY_LEDGER, MEMBER_STORED_VALUE, card.id, None, None)
        return card.stored_value_account_id

    def merchant_points_issued_account(self, merchant: Merchant) -> int:
        account_id = self.state.issued_accounts.get(merchant.id)
        if account_id is None:
            account_id = self._new_account()
            self.state.issued_accounts[merchant.id] = account_id
        self.batch.accounts[account_id] = (
            POINTS_LEDGER, MERCHANT_POINTS_ISSUED, None, merchant.id, None)
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
            before = balances[account_id]
            balances[account_id] = before + amount
            assert balances[account_id] - before == amount
