"""Journal rows written by SQL in the shape the account host writes them (docs/ledger.md):
one transactions row per approval, one entry per ledger moved, two postings per entry (the
member's and one counter account), account balances equal to their postings. Fast enough to
give the property tests many days of traffic without terminals.

Kinds: purchase, redemption, stored_value_load, stored_value_purchase, points_exchange and
reversal (the original's postings negated). Each is also summed here into the totals that
clearing must find: an independent model of the aggregation.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime

import asyncpg

from tests.keys_kit import insert_cards

POINTS, MONEY = "points", "money"
# Ids far above anything the host's allocators hand out in a test.
FIRST_ID = 1_000_000_000

SEED_SQL = """
INSERT INTO alliances (code, name) VALUES ('SYN', 'Synthetic alliance');
INSERT INTO merchants (merchant_code, alliance_id, name)
SELECT 'SYNMERCHANT000' || n, (SELECT id FROM alliances WHERE code = 'SYN'), 'Shop ' || n
FROM generate_series(1, 3) AS n;
INSERT INTO terminals (terminal_code, merchant_id)
SELECT 'SYNTERM' || n, (SELECT id FROM merchants WHERE merchant_code = 'SYNMERCHANT000' || n)
FROM generate_series(1, 3) AS n;
"""
# The cards, sealed as the back office issues them (tests/keys_kit).
SEED_PANS = [f"62219900000000{n:02d}" for n in range(1, 5)]
ALLIANCE = "SYN"


class Journal:
    """Accounts, balances and ids across days; `day()` writes one date's transactions."""

    def __init__(self, alliance_id: int, merchant_ids: list[int], card_ids: list[int]) -> None:
        self.alliance_id = alliance_id
        self.merchant_ids = merchant_ids
        # Each merchant's terminal (SEED_SQL: SYNTERMn of SYNMERCHANT000n, ids in that order).
        self.terminal_codes = {merchant_id: f"SYNTERM{number}"
                               for number, merchant_id in enumerate(merchant_ids, start=1)}
        self.card_ids = card_ids
        self._ids = itertools.count(FIRST_ID)
        self.accounts: dict[tuple[str, int], int] = {}      # (kind, owner) -> account id
        self.rows: dict[int, tuple] = {}                     # account id -> its row
        self.balances: Counter[int] = Counter()

    @classmethod
    async def create(cls, conn: asyncpg.Connection) -> Journal:
        await conn.execute(SEED_SQL)
        alliance_id = await conn.fetchval("SELECT id FROM alliances WHERE code = $1", ALLIANCE)
        await insert_cards(conn, SEED_PANS, alliance_id, date(2099, 12, 31))
        merchants = [row[0] for row in await conn.fetch(
            "SELECT id FROM merchants WHERE alliance_id = $1 ORDER BY id", alliance_id)]
        cards = [row[0] for row in await conn.fetch(
            "SELECT id FROM cards WHERE alliance_id = $1 ORDER BY id", alliance_id)]
        return cls(alliance_id, merchants, cards)

    def account(self, kind: str, owner: int) -> int:
        key = (kind, owner)
        if key not in self.accounts:
            account_id = self.accounts[key] = next(self._ids)
            ledger = POINTS if "points" in kind or kind == "alliance_breakage" else MONEY
            card = owner if kind.startswith("member_") else None
            merchant = owner if kind.startswith("merchant_") else None
            alliance = owner if kind.startswith("alliance_") else None
            self.rows[account_id] = (account_id, ledger, kind, card, merchant, alliance)
        return self.accounts[key]

    def next_id(self) -> int:
        return next(self._ids)


class Day:
    """One date's transactions, checked like the host checks them (no stored value below 0,
    a transaction reversed once), and the totals clearing should find."""

    def __init__(self, journal: Journal, business_date: date) -> None:
        self.journal = journal
        self.business_date = business_date
        self.transactions: list[tuple] = []
        self.entries: list[tuple] = []
        self.postings: list[tuple] = []
        self.posted: dict[int, list[tuple[str, int, int]]] = {}   # txn -> (ledger, acct, amt)
        self.reversed: set[int] = set()
        self.totals: Counter[tuple[str, int]] = Counter()          # (kind, owner) -> sum
        self.counts: Counter[tuple[str, int]] = Counter()
        self.financial: Counter[int] = Counter()                   # merchant -> transactions

    def _post(self, kind: str, merchant_id: int, card_id: int,
              movements: list[tuple[str, int, int]], original: int | None = None) -> None:
        """movements: (ledger, counter account id, member amount), member accounts implied."""
        journal = self.journal
        transaction_id = journal.next_id()
        points = sum(amount for ledger, _, amount in movements if ledger == POINTS)
        stored_value = sum(amount for ledger, _, amount in movements if ledger == MONEY)
        self.transactions.append((
            transaction_id, kind, self.business_date, datetime.now(UTC),
            journal.terminal_codes[merchant_id],
            merchant_id, card_id, 1, "0400" if kind == "reversal" else "0200",
            f"{transaction_id % 1_000_000:06d}", f"{transaction_id:010d}"[-10:],
            f"{transaction_id:012d}"[-12:], "000001", 0, "156", points, original,
            stored_value))
        posted = []
        for ledger, counter, amount in movements:
            if amount == 0:
                continue
            member_kind = "member_points" if ledger == POINTS else "member_stored_value"
            member = journal.account(member_kind, card_id)
            entry_id = journal.next_id()
            self.entries.append((entry_id, transaction_id, ledger, self.business_date))
            for account_id, signed in ((member, amount), (counter, -amount)):
                self.postings.append((entry_id, account_id, signed))
                journal.balances[account_id] += signed
            counter_kind, owner = journal.rows[counter][2], _owner(journal.rows[counter])
            self.totals[counter_kind, owner] -= amount
            self.counts[counter_kind, owner] += 1
            posted.append((ledger, counter, amount))
        if posted:
            self.posted[transaction_id] = posted
            self.financial[merchant_id] += -1 if kind == "reversal" else 1

    def stored_value(self, card_id: int) -> int:
        return self.journal.balances[self.journal.account("member_stored_value", card_id)]

    def apply(self, operation: str, merchant: int, card: int, amount: int) -> None:
        journal = self.journal
        merchant_id, card_id = journal.merchant_ids[merchant], journal.card_ids[card]
        account = journal.account
        if operation == "purchase":
            self._post("purchase", merchant_id, card_id, [
                (POINTS, account("merchant_points_issued", merchant_id), amount)])
        elif operation == "redemption":
            self._post("redemption", merchant_id, card_id, [
                (POINTS, account("merchant_points_redeemed", merchant_id), -amount)])
        elif operation == "load":
            self._post("stored_value_load", merchant_id, card_id, [
                (MONEY, account("merchant_stored_value_loaded", merchant_id), amount)])
        elif operation == "spend" and 0 < amount <= self.stored_value(card_id):
            self._post("stored_value_purchase", merchant_id, card_id, [
                (MONEY, account("merchant_stored_value_spent", merchant_id), -amount),
                (POINTS, account("merchant_points_issued", merchant_id), amount // 100)])
        elif operation == "exchange":
            self._post("points_exchange", merchant_id, card_id, [
                (POINTS, account("alliance_points_exchanged", journal.alliance_id), -amount),
                (MONEY, account("alliance_stored_value_exchange", journal.alliance_id),
                 amount)])
        elif operation == "reverse":
            self._reverse(amount)

    def _reverse(self, pick: int) -> None:
        standing = [txn for txn in self.posted if txn not in self.reversed
                    and self.transactions_kind(txn) != "reversal"]
        if not standing:
            return
        original = standing[pick % len(standing)]
        movements = [(ledger, counter, -amount) for ledger, counter, amount
                     in self.posted[original]]
        member_money = sum(amount for ledger, _, amount in movements if ledger == MONEY)
        card_id = next(row[6] for row in self.transactions if row[0] == original)
        if self.stored_value(card_id) + member_money < 0:
            return                                  # the host declines it (51)
        merchant_id = next(row[5] for row in self.transactions if row[0] == original)
        self.reversed.add(original)
        self._post("reversal", merchant_id, card_id, movements, original)

    def transactions_kind(self, transaction_id: int) -> str:
        return next(row[1] for row in self.transactions if row[0] == transaction_id)

    async def write(self, conn: asyncpg.Connection) -> None:
        journal = self.journal
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO accounts (id, ledger, kind, card_id, merchant_id, alliance_id,"
                " balance) VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT DO NOTHING",
                list(journal.rows.values()))
            await conn.executemany(
                "INSERT INTO transactions (id, kind, business_date, posted_at, terminal_code,"
                " merchant_id, card_id, batch_number, mti, stan, transmission_time, rrn,"
                " auth_code, amount, currency, points, original_transaction_id,"
                " stored_value_fen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
                " $13, $14, $15, $16, $17, $18)", self.transactions)
            await conn.executemany(
                "INSERT INTO journal_entries (id, transaction_id, ledger, business_date)"
                " VALUES ($1, $2, $3, $4)", self.entries)
            await conn.executemany(
                "INSERT INTO postings (entry_id, account_id, amount) VALUES ($1, $2, $3)",
                self.postings)
            await conn.executemany("UPDATE accounts SET balance = $2 WHERE id = $1",
                                   list(journal.balances.items()))


def _owner(row: tuple) -> int:
    return row[4] if row[4] is not None else row[5]
