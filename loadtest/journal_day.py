"""One synthetic business day of an alliance's journal, row by row, as the account host writes
it (docs/ledger.md): a transactions row per approval, one journal entry per ledger it moves
with two postings (the member's account and its counter account), accounts created at their
first posting with their final balances, and each terminal's batch of the day.

The day is a plausible one, not a replay: cards are chosen at random, and a kind that the
card cannot afford (a redemption without points, a stored-value purchase without stored
value) becomes a purchase or a load instead. Every host rule the audit checks holds: entries
sum to zero, stored value never goes below zero, returns stay within their purchase and claw
points back over the running total, an original is reversed at most once and never while it
has returns standing, and idempotency keys are unique.

Pure Python and deterministic for a seed; journal_gen.py writes the rows with COPY.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

from account_host.identifiers import AUTH_CODE_PERIOD, auth_code_text
from proto.business_date import business_date

# Kind -> weight in the mix (sum 100). Roughly a busy coalition day: mostly earning, a fifth
# stored value, a tenth redemptions, a few returns, reversals and advices.
MIX: tuple[tuple[str, int], ...] = (
    ("purchase", 43), ("stored_value_purchase", 12), ("redemption", 10), ("return", 4),
    ("stored_value_load", 12), ("points_exchange", 5), ("offline_purchase", 8),
    ("reversal", 6),
)
# Transactions posted at one instant: the host writes a group commit with one posted_at.
GROUP_SIZE = 64
# Recent transactions a return or a reversal may name: a bounded window, like the host's.
RECENT_MAX = 20_000
# Postings per transaction on average with MIX; sizes the day's clock from its target.
POSTINGS_PER_TRANSACTION_ESTIMATE = 2.5
# The 0500 of the day comes this long before the cutover; traffic stops before it.
BATCH_CLOSE_BEFORE_CUTOVER = timedelta(minutes=2)
PURCHASE_FEN_MAX = 50_000          # ¥500.00: a large basket
LOAD_FEN_CHOICES = (5_000, 10_000, 20_000, 50_000)
POINTS_LEDGER, MONEY_LEDGER = "points", "money"
_KIND_BY_PERCENT = tuple(itertools.chain.from_iterable(
    itertools.repeat(kind, weight) for kind, weight in MIX))
assert len(_KIND_BY_PERCENT) == 100
# Field 38 as the host spells it (identifiers.auth_code_text), three base-36 digits at a time.
_BASE36_CUBE = 36 ** 3
_BASE36_TRIPLES = tuple(auth_code_text(value)[3:] for value in range(_BASE36_CUBE))


def _auth_code_text(value: int) -> str:
    value %= AUTH_CODE_PERIOD
    return _BASE36_TRIPLES[value // _BASE36_CUBE] + _BASE36_TRIPLES[value % _BASE36_CUBE]

TRANSACTION_COLUMNS = (
    "id", "kind", "business_date", "posted_at", "terminal_code", "merchant_id", "card_id",
    "batch_number", "mti", "stan", "transmission_time", "rrn", "auth_code", "amount",
    "currency", "points", "original_transaction_id", "stored_value_fen",
)
ENTRY_COLUMNS = ("id", "transaction_id", "ledger", "business_date")
POSTING_COLUMNS = ("entry_id", "account_id", "amount")
ACCOUNT_COLUMNS = ("id", "ledger", "kind", "card_id", "merchant_id", "alliance_id", "balance")
BATCH_COLUMNS = ("terminal_code", "batch_number", "opened_at", "closed_at", "result_code")


class Counters(msgspec.Struct):
    """The next value of each host counter (host_counters), taken as rows are made."""

    transaction: int
    entry: int
    account: int
    rrn: int
    auth_code: int


class Owners(msgspec.Struct, frozen=True):
    """What the day trades on: ids and codes as provisioned (journal_gen.py)."""

    alliance_id: int
    timezone: str
    cutover_local_time: time
    exchange_points_per_yuan: int
    merchant_ids: tuple[int, ...]
    earn_points_per_yuan: tuple[int, ...]       # by merchant index
    terminal_codes: tuple[str, ...]
    terminal_merchant: tuple[int, ...]          # terminal index -> merchant index
    card_ids: tuple[int, ...]


class Chunk(msgspec.Struct):
    transactions: list[tuple] = msgspec.field(default_factory=list)
    entries: list[tuple] = msgspec.field(default_factory=list)
    postings: list[tuple] = msgspec.field(default_factory=list)


class _Moved(msgspec.Struct):
    """What an approval moved, to negate in a reversal (the host's movements.Posted)."""

    transaction_id: int
    kind: str
    terminal: int
    amount: int
    currency: str
    card: int
    points: int = 0
    points_counter: int = 0                 # account id
    stored_value_fen: int = 0
    stored_value_counter: int = 0           # account id
    purchase: _Purchase | None = None       # a purchase's, or the one a return returned
    reversed: bool = False


class _Purchase(msgspec.Struct):
    """A returnable purchase with its running return totals (the host's returns_index)."""

    transaction_id: int
    card: int
    merchant: int
    amount: int
    points: int
    rrn: str
    from_stored_value: bool
    returned: int = 0
    clawed: int = 0
    reversed: bool = False


def day_bounds(business: date, timezone: str, cutover: time) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a business date: from the previous day's cutover to its own."""
    zone = ZoneInfo(timezone)
    end = datetime.combine(business, cutover, zone)
    start = datetime.combine(business - timedelta(days=1), cutover, zone)
    assert business_date(start, zone, cutover) == business
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


class JournalDay:
    """Makes the rows of one business day, about `postings` postings, in chunks."""

    def __init__(self, owners: Owners, business: date, postings: int, counters: Counters,
                 seed: int = 1) -> None:
        assert owners.merchant_ids and owners.terminal_codes and owners.card_ids
        self.owners = owners
        self.business = business
        self.postings_target = postings
        self.counters = counters
        self.random = random.Random(seed)
        self.start, self.end = day_bounds(business, owners.timezone, owners.cutover_local_time)
        expected = max(int(postings / POSTINGS_PER_TRANSACTION_ESTIMATE), 1)
        usable = self.end - BATCH_CLOSE_BEFORE_CUTOVER - self.start
        self.group_step = usable / (expected / GROUP_SIZE + 1)
        cards = len(owners.card_ids)
        self.points = [0] * cards                   # member balances, by card index
        self.stored_value = [0] * cards
        self.points_account = [0] * cards           # account ids, 0 = not yet created
        self.stored_value_account = [0] * cards
        self.owner_account: dict[tuple[str, int], int] = {}
        self.accounts: dict[int, list] = {}         # id -> ACCOUNT_COLUMNS row (balance last)
        self.stans = [0] * len(owners.terminal_codes)
        self.recent: deque[_Moved] = deque(maxlen=RECENT_MAX)
        self.purchases: deque[_Purchase] = deque(maxlen=RECENT_MAX)
        self.postings_made = 0
        self.transactions_made = 0
        self.kinds_made: dict[str, int] = {}
        self.last_posted_at = self.start
        self._posted_at = self.start
        self._transmission_time = ""

    def chunks(self, transactions_per_chunk: int) -> Iterator[Chunk]:
        """The day's rows, until the postings target is reached."""
        assert transactions_per_chunk > 0
        chunk = Chunk()
        while self.postings_made < self.postings_target:
            if self.transactions_made % GROUP_SIZE == 0:
                self._next_group()
            self._one(chunk)
            if len(chunk.transactions) >= transactions_per_chunk:
                yield chunk
                chunk = Chunk()
        if chunk.transactions:
            yield chunk

    def account_rows(self) -> list[tuple]:
        """Every account the day posted to, with its balance (the sum of its postings)."""
        return [tuple(row) for row in self.accounts.values()]

    def batch_rows(self, out_of_balance_every: int, unreconciled_every: int) -> list[tuple]:
        """Each terminal's batch 000001 of the day: closed 00 by a 0500 before the cutover,
        except every n-th closed 95 (out of balance) or never closed; a closed batch's
        successor 000002 is open."""
        opened_at = self.start - BATCH_CLOSE_BEFORE_CUTOVER
        closed_at = self.end - BATCH_CLOSE_BEFORE_CUTOVER / 2
        rows: list[tuple[str, int, datetime, datetime | None, str | None]] = []
        for index, code in enumerate(self.owners.terminal_codes):
            if unreconciled_every and index % unreconciled_every == unreconciled_every - 1:
                rows.append((code, 1, opened_at, None, None))
                continue
            balanced = not out_of_balance_every or \
                index % out_of_balance_every != out_of_balance_every - 1
            rows.append((code, 1, opened_at, closed_at, "00" if balanced else "95"))
            rows.append((code, 2, closed_at, None, None))
        return rows

    # ---- one transaction ----------------------------------------------------------------

    def _next_group(self) -> None:
        self._posted_at = min(self._posted_at + self.group_step,
                              self.end - BATCH_CLOSE_BEFORE_CUTOVER)
        self.last_posted_at = self._posted_at
        self._transmission_time = self._posted_at.strftime("%m%d%H%M%S")   # field 7, UTC

    def _one(self, chunk: Chunk) -> None:
        uniform = self.random.random
        kind = _KIND_BY_PERCENT[int(uniform() * 100)]
        card = int(uniform() * len(self.owners.card_ids))
        terminal = int(uniform() * len(self.owners.terminal_codes))
        if kind == "reversal" and self._reversal(chunk):
            return
        if kind == "return" and self._return(chunk, terminal):
            return
        if kind == "redemption" and self.points[card] >= 10:
            n = 1 + int(uniform() * min(self.points[card], 2_000))
            self._simple(chunk, kind, terminal, card, n, "999", -n, "merchant_points_redeemed")
        elif kind == "points_exchange" and self.points[card] >= 100:
            self._exchange(chunk, terminal, card)
        elif kind == "stored_value_purchase" and self.stored_value[card] >= 100:
            fen = 100 + int(uniform() * (self.stored_value[card] - 99))
            self._purchase(chunk, kind, terminal, card, fen)
        elif kind in ("stored_value_load", "stored_value_purchase"):
            fen = LOAD_FEN_CHOICES[int(uniform() * len(LOAD_FEN_CHOICES))]
            self._load(chunk, terminal, card, fen)
        else:
            kind = "offline_purchase" if kind == "offline_purchase" else "purchase"
            self._purchase(chunk, kind, terminal, card, 1 + int(uniform() * PURCHASE_FEN_MAX))

    def _purchase(self, chunk: Chunk, kind: str, terminal: int, card: int, fen: int) -> None:
        merchant = self.owners.terminal_merchant[terminal]
        points = fen * self.owners.earn_points_per_yuan[merchant] // 100
        stored_value_fen = -fen if kind == "stored_value_purchase" else 0
        mti = "0220" if kind == "offline_purchase" else "0200"
        moved = self._record(chunk, kind, terminal, card, fen, "156", points, stored_value_fen,
                             mti=mti)
        merchant_id = self.owners.merchant_ids[merchant]
        if points:
            self._post_points(chunk, moved, points,
                              self._owner("merchant_points_issued", merchant_id))
        if stored_value_fen:
            self._post_stored_value(chunk, moved, stored_value_fen,
                                    self._owner("merchant_stored_value_spent", merchant_id))
        moved.purchase = _Purchase(moved.transaction_id, card, merchant_id, fen, points,
                                   chunk.transactions[-1][11], bool(stored_value_fen))
        self.purchases.append(moved.purchase)

    def _simple(self, chunk: Chunk, kind: str, terminal: int, card: int, amount: int,
                currency: str, points: int, counter_kind: str) -> None:
        moved = self._record(chunk, kind, terminal, card, amount, currency, points, 0)
        merchant_id = self.owners.merchant_ids[self.owners.terminal_merchant[terminal]]
        self._post_points(chunk, moved, points, self._owner(counter_kind, merchant_id))

    def _load(self, chunk: Chunk, terminal: int, card: int, fen: int) -> None:
        moved = self._record(chunk, "stored_value_load", terminal, card, fen, "156", 0, fen)
        merchant_id = self.owners.merchant_ids[self.owners.terminal_merchant[terminal]]
        self._post_stored_value(chunk, moved, fen,
                                self._owner("merchant_stored_value_loaded", merchant_id))

    def _exchange(self, chunk: Chunk, terminal: int, card: int) -> None:
        n = 100 + int(self.random.random() * (min(self.points[card], 5_000) - 99))
        fen = n * 100 // self.owners.exchange_points_per_yuan
        if fen == 0:                          # the host declines it (13): a purchase instead
            self._purchase(chunk, "purchase", terminal, card, n)
            return
        moved = self._record(chunk, "points_exchange", terminal, card, n, "999", -n, fen)
        alliance_id = self.owners.alliance_id
        self._post_points(chunk, moved, -n, self._owner("alliance_points_exchanged",
                                                        alliance_id))
        self._post_stored_value(chunk, moved, fen,
                                self._owner("alliance_stored_value_exchange", alliance_id))

    def _return(self, chunk: Chunk, terminal: int) -> bool:
        """A return of part of a recent purchase by its card, at any terminal; False when the
        purchase picked cannot take one (reversed or fully returned)."""
        if not self.purchases:
            return False
        purchase = self.purchases[int(self.random.random() * len(self.purchases))]
        if purchase.reversed or purchase.returned >= purchase.amount:
            return False
        fen = 1 + int(self.random.random() * (purchase.amount - purchase.returned))
        returned = purchase.returned + fen
        claw = max(0, purchase.points * returned // purchase.amount - purchase.clawed)
        refund = fen if purchase.from_stored_value else 0
        moved = self._record(chunk, "return", terminal, purchase.card, fen, "156", -claw,
                             refund, original=purchase.transaction_id)
        if claw:
            self._post_points(chunk, moved, -claw,
                              self._owner("merchant_points_issued", purchase.merchant))
        if refund:
            self._post_stored_value(chunk, moved, refund,
                                    self._owner("merchant_stored_value_spent",
                                                purchase.merchant))
        purchase.returned, purchase.clawed = returned, purchase.clawed + claw
        moved.purchase = purchase
        return True

    def _reversal(self, chunk: Chunk) -> bool:
        """A 0400/0420 of a recent approval, every posting negated; False when the host would
        not post one (already reversed, moved nothing, returns standing, stored value spent)."""
        if not self.recent:
            return False
        original = self.recent[int(self.random.random() * len(self.recent))]
        purchase = original.purchase
        bought = purchase if original.kind != "return" else None   # a purchase reversed
        if original.reversed or not (original.points or original.stored_value_fen) or \
                (bought is not None and bought.returned > 0) or \
                self.stored_value[original.card] < original.stored_value_fen:
            return False
        mti = "0420" if self.random.random() < 0.25 else "0400"
        undo = self._record(chunk, "reversal", original.terminal, original.card,
                            original.amount, original.currency, -original.points,
                            -original.stored_value_fen, mti=mti,
                            original=original.transaction_id, reversible=False)
        if original.points:
            self._post_points(chunk, undo, -original.points, original.points_counter)
        if original.stored_value_fen:
            self._post_stored_value(chunk, undo, -original.stored_value_fen,
                                    original.stored_value_counter)
        original.reversed = True
        if bought is not None:
            bought.reversed = True
        elif purchase is not None:            # a reversed return gives its share back
            purchase.returned -= original.amount
            purchase.clawed += original.points
        return True

    # ---- rows -------------------------------------------------------------------------

    def _record(self, chunk: Chunk, kind: str, terminal: int, card: int, amount: int,
                currency: str, points: int, stored_value_fen: int, *, mti: str = "0200",
                original: int | None = None, reversible: bool = True) -> _Moved:
        """The transactions row (ids from the host's counters, a new STAN of the terminal)."""
        counters = self.counters
        transaction_id = counters.transaction
        counters.transaction += 1
        rrn = auth_code = None
        if kind != "reversal":
            rrn, auth_code = f"{counters.rrn:012d}", _auth_code_text(counters.auth_code)
            counters.rrn += 1
            counters.auth_code += 1
        stan = self.stans[terminal] + 1
        assert stan <= 999_999, "a terminal's STAN wrapped within the day: add terminals"
        self.stans[terminal] = stan
        owners = self.owners
        chunk.transactions.append((
            transaction_id, kind, self.business, self._posted_at,
            owners.terminal_codes[terminal],
            owners.merchant_ids[owners.terminal_merchant[terminal]], owners.card_ids[card], 1,
            mti, f"{stan:06d}", self._transmission_time, rrn, auth_code, amount, currency,
            points, original, stored_value_fen))
        self.transactions_made += 1
        self.kinds_made[kind] = self.kinds_made.get(kind, 0) + 1
        moved = _Moved(transaction_id, kind, terminal, amount, currency, card)
        if reversible:
            self.recent.append(moved)
        return moved

    def _post_points(self, chunk: Chunk, moved: _Moved, points: int, counter: int) -> None:
        card = moved.card
        if not self.points_account[card]:
            self.points_account[card] = self._account(
                POINTS_LEDGER, "member_points", self.owners.card_ids[card], None, None)
        self._entry(chunk, moved.transaction_id, POINTS_LEDGER, self.points_account[card],
                    counter, points)
        self.points[card] += points
        moved.points, moved.points_counter = points, counter

    def _post_stored_value(self, chunk: Chunk, moved: _Moved, fen: int, counter: int) -> None:
        card = moved.card
        if not self.stored_value_account[card]:
            self.stored_value_account[card] = self._account(
                MONEY_LEDGER, "member_stored_value", self.owners.card_ids[card], None, None)
        self._entry(chunk, moved.transaction_id, MONEY_LEDGER,
                    self.stored_value_account[card], counter, fen)
        self.stored_value[card] += fen
        assert self.stored_value[card] >= 0, "stored value below zero"
        moved.stored_value_fen, moved.stored_value_counter = fen, counter

    def _entry(self, chunk: Chunk, transaction_id: int, ledger: str, member: int,
               counter: int, amount: int) -> None:
        """One entry: the member's account +amount, the counter account -amount."""
        assert amount != 0 and member != counter
        entry_id = self.counters.entry
        self.counters.entry += 1
        chunk.entries.append((entry_id, transaction_id, ledger, self.business))
        chunk.postings.append((entry_id, member, amount))
        chunk.postings.append((entry_id, counter, -amount))
        self.accounts[member][6] += amount
        self.accounts[counter][6] -= amount
        self.postings_made += 2

    def _owner(self, kind: str, owner_id: int) -> int:
        """A merchant's or the alliance's account of `kind`, created at its first use."""
        account_id = self.owner_account.get((kind, owner_id))
        if account_id is None:
            ledger = MONEY_LEDGER if "stored_value" in kind else POINTS_LEDGER
            is_alliance = kind.startswith("alliance_")
            account_id = self._account(ledger, kind, None,
                                       None if is_alliance else owner_id,
                                       owner_id if is_alliance else None)
            self.owner_account[kind, owner_id] = account_id
        return account_id

    def _account(self, ledger: str, kind: str, card_id: int | None, merchant_id: int | None,
                 alliance_id: int | None) -> int:
        account_id = self.counters.account
        self.counters.account += 1
        self.accounts[account_id] = [account_id, ledger, kind, card_id, merchant_id,
                                     alliance_id, 0]
        return account_id
