"""The host's in-memory model: every balance, card, merchant, terminal, open batch and recent
transaction it needs to decide a request without touching the database (loading.py and
loading_ledger.py read it in bulk).

Only the writer task mutates it. Cards are in columns (card_store.py): about 105 bytes a card
with its index, 62 more for a memberless card's tier standing. A points account adds its
balance (9 bytes in a page of columns: account_columns.py) and, where points expire, its lots
(a slot in a list and a bytes object: about 50 bytes for one lot, 8 more a lot); a card
counted for caps, 24 bytes (earning/counters.py); docs/performance.md has the figures at 10^6
cards. An account that does not exist yet has
balance 0.
"""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

import msgspec

from account_host.account_columns import AccountLots, Balances
from account_host.batches import FIRST_BATCH_NUMBER, OpenBatch
from account_host.card_store import CardRow, CardStore
from account_host.earning.counters import EarnCounters
from account_host.earning.referrals import Referrals
from account_host.earning.rule_book import RuleBook, compile_rules
from account_host.idempotency import RetransmissionMemory
from account_host.lottery.book import LotteryBook
from account_host.returns_index import ReturnIndex
from account_host.risk.state import RiskState
from account_host.tombstones import Tombstones
from proto.codes import ResponseCode
from proto.earn_rules import EarnRules

# Card status -> the answer a request with that card gets (None: the card may transact).
CARD_STATUS_DECLINES: dict[str, ResponseCode | None] = {
    "active": None,
    "lost": ResponseCode.CARD_LOST,
    "stolen": ResponseCode.CARD_STOLEN,
    "blocked": ResponseCode.DO_NOT_HONOUR,
    "inactive": ResponseCode.DO_NOT_HONOUR,   # sold, not yet activated
    "closed": ResponseCode.DO_NOT_HONOUR,     # replaced, or closed and refunded
}
# Merchants and alliances are a coalition's few thousand rows; far more is a data error.
MERCHANTS_MAX = 1_000_000
# Terminals of all merchants: a coalition's tens of thousands; far more is a data error.
TERMINALS_MAX = 1_000_000
# Gifts in all catalogues: a coalition's catalogue has hundreds; far more is a data error.
GIFTS_MAX = 1_000_000
_DAY_S = 86_400


class Alliance(msgspec.Struct, frozen=True):
    id: int
    timezone: ZoneInfo
    cutover_local_time: time
    exchange_points_per_yuan: int
    # The latest business date clearing sealed (table business_days): the host posts to the
    # day after it at the earliest, whatever its clock says (docs/clearing.md).
    sealed_through: date | None = None
    # Whether members may give each other points (a back-office transfer).
    points_transfer_allowed: bool = False
    # The most of an order that points may pay (900000 with tag OA), in basis points.
    order_points_share_bp: int = 5000


class Gift(msgspec.Struct, gc=False):
    """A gift of an alliance's catalogue. The host is the only writer of `stock` and `active`
    once the gift exists: a redemption takes one, its reversal gives it back, and back-office
    commands restock or withdraw it (account_host/commands/applying.py)."""

    points: int          # its price (field 4 of the redemption)
    stock: int | None    # None: not counted (a gift made before stock was kept)
    active: bool         # False: withdrawn (05)


class Merchant(msgspec.Struct, frozen=True):
    id: int
    merchant_code: str
    alliance_id: int
    active: bool
    earn_points_per_yuan: int
    category: str | None = None   # the rule document may give it a base rate


class Terminal(msgspec.Struct, frozen=True, gc=False):
    """A registered terminal (field 41): whose it is and whether it may transact. The host
    checks it again rather than trust the link peer (docs/security.md)."""

    merchant_id: int
    active: bool


class HostState:
    """Everything the writer decides from. A failed batch replaces it with a fresh load."""

    def __init__(
        self, retransmission_window_s: int, return_window_days: int, *,
        pan_lookup_key: bytes = b"",
    ) -> None:
        # The pan_lookup data key: cards are known by HMAC-SHA256(key, PAN) (proto.keys.cards),
        # never by their number; one HMAC per request (about 1.5 µs).
        self.pan_lookup_key = pan_lookup_key
        self.alliances: dict[int, Alliance] = {}
        self.merchants: dict[str, Merchant] = {}            # by merchant code (field 42)
        self.merchants_by_id: dict[int, Merchant] = {}
        self.terminals: dict[str, Terminal] = {}            # by terminal code (field 41)
        # (account kind, merchant or alliance id) -> account id: the accounts of no card.
        self.owner_accounts: dict[tuple[str, int], int] = {}
        # Their rows (ledger, kind, card_id, merchant_id, alliance_id), by account id.
        self.owner_account_rows: dict[int, tuple[str, str, None, int | None, int | None]] = {}
        self.cards = CardStore()                            # by the PAN's HMAC
        self.highest_card_id = 0
        self.balances = Balances()                          # account id -> balance
        # A points account's lots (account_host/expiry/lots.py), where it has any.
        self.lots = AccountLots()
        self.batches: dict[str, OpenBatch] = {}             # terminal code -> its open batch
        self.gifts: dict[tuple[int, str], Gift] = {}        # by (alliance id, code)
        self.retransmissions = RetransmissionMemory(retransmission_window_s)
        self.tombstones = Tombstones(retransmission_window_s)
        # A purchase's reversal must see its returns: keep purchases for both windows.
        keep_days = max(return_window_days, -(-retransmission_window_s // _DAY_S))
        self.returns = ReturnIndex(return_window_days, keep_days)
        # Back-office commands applied to this state (a command read twice is applied once),
        # and the cards they closed (the database says so only once their batch commits).
        self.commands_taken: set[int] = set()
        self.closed_cards: set[int] = set()
        # Cards this host blocked (risk control) in a batch not yet committed: a re-read row
        # may be from before the block. Left once the batch commits (`blocks_landed`), so that
        # a release read afterwards takes; a release needs the block's review, which commits
        # with it, so none can come sooner.
        self.blocks_in_flight: set[int] = set()
        # Earn rules: each alliance's versions as read (alliance id -> [(from, rules)]), and
        # compiled against its merchants; the cards' points of the day and month for caps.
        self.earn_rule_versions: dict[int, list[tuple[date, EarnRules]]] = {}
        self.rule_books: dict[int, RuleBook] = {}
        self.earn_counters = EarnCounters()
        self.referrals = Referrals()
        self.lottery = LotteryBook(retransmission_window_s)
        # Velocity limits and abnormal growth (account_host/risk/).
        self.risk = RiskState()
        # Members' tier standings (proto/tiers.py), by member id: only members that purchased
        # where the alliance has tiers. A card without a member keeps its own (Card.standing).
        self.member_standings: dict[int, bytes] = {}
        # The newest group commit's standing sequence (journal.py: each copy of a standing
        # carries its batch's; the newest copy wins at a load).
        self.standing_seq = 0

    def next_standing_seq(self) -> int:
        self.standing_seq += 1
        return self.standing_seq

    def balance(self, account_id: int) -> int:
        return self.balances.get(account_id, 0) if account_id else 0

    def open_batch(self, terminal_code: str) -> int:
        batch = self.batches.get(terminal_code)
        return FIRST_BATCH_NUMBER if batch is None else batch.number

    def batch_of(self, terminal_code: str) -> OpenBatch:
        """The terminal's open batch (its first, when it has none yet)."""
        batch = self.batches.get(terminal_code)
        if batch is None:
            batch = self.batches[terminal_code] = OpenBatch(FIRST_BATCH_NUMBER, None)
        return batch

    def merge_cards(self, cards: list[LoadedCard]) -> None:
        """Add new cards and refresh known ones; accounts already in memory stay authoritative
        (the writer may have posted to them since the rows were read)."""
        for loaded in cards:
            card = loaded.card
            known = self.cards.get(loaded.pan_hmac)
            if known is not None:
                card.points_account_id = known.points_account_id
                card.stored_value_account_id = known.stored_value_account_id
                if card.id in self.closed_cards or (
                        card.id in self.blocks_in_flight and card.decline_code is None):
                    # Closed by a command, or blocked by this host, in a batch that may still
                    # be in flight: the row read may be from before it.
                    card.decline_code = ResponseCode.DO_NOT_HONOUR
                if known.password_version == card.password_version:
                    # The same password: the tries in memory may be ahead of the database's
                    # (a batch in flight). Another version (a reset) starts from its row.
                    card.password_tries = known.password_tries
            else:
                for account_id, balance in loaded.balances:
                    self.balances.setdefault(account_id, balance)
                if loaded.lots and card.points_account_id:
                    self.lots.setdefault(card.points_account_id, loaded.lots)
            if loaded.standing is not None and card.member_id:   # memory may be ahead
                self.member_standings.setdefault(card.member_id, loaded.standing)
            elif known is not None and known.standing is not None:
                card.standing = known.standing
            self.cards.put(loaded.pan_hmac, card)
            self.highest_card_id = max(self.highest_card_id, card.id)

    def blocks_landed(self, card_statuses: dict[int, tuple[str, int]]) -> None:
        """A batch committed with these card status changes: its blocks are in the rows."""
        if self.blocks_in_flight:
            self.blocks_in_flight.difference_update(
                card_id for card_id, (status, _) in card_statuses.items() if status == "blocked")

    def replace_merchants(self, merchants: list[Merchant]) -> None:
        self.merchants = {merchant.merchant_code: merchant for merchant in merchants}
        self.merchants_by_id = {merchant.id: merchant for merchant in merchants}
        self._compile_rules()

    def replace_earn_rules(self, versions: dict[int, list[tuple[date, EarnRules]]]) -> None:
        self.earn_rule_versions = versions
        self._compile_rules()

    def _compile_rules(self) -> None:
        """Every alliance's rule versions against its merchants as they are now."""
        by_alliance: dict[int, dict[str, tuple[int, str | None]]] = {}
        for merchant in self.merchants.values():
            by_alliance.setdefault(merchant.alliance_id, {})[merchant.merchant_code] = (
                merchant.id, merchant.category)
        self.rule_books = {
            alliance_id: RuleBook([compile_rules(effective_from, rules,
                                                 by_alliance.get(alliance_id, {}))
                                   for effective_from, rules in versions])
            for alliance_id, versions in self.earn_rule_versions.items()}

    def replace_terminals(self, terminals: dict[str, Terminal]) -> None:
        self.terminals = terminals

    def replace_alliances(self, alliances: list[Alliance]) -> None:
        self.alliances = {alliance.id: alliance for alliance in alliances}

    def merge_gifts(self, gifts: dict[tuple[int, str], Gift]) -> None:
        """Add new gifts; a known gift keeps its stock and state in memory, which may be ahead
        of the rows read (a batch in flight): the host is their only writer."""
        for key, gift in gifts.items():
            self.gifts.setdefault(key, gift)


class LoadedCard(msgspec.Struct, gc=False):
    """A card as read, with the (account id, balance) pairs of its existing accounts."""

    pan_hmac: bytes
    card: CardRow
    balances: tuple[tuple[int, int], ...]
    standing: bytes | None = None   # its holder's, as written (a member's: to share)
    lots: bytes | None = None   # its points account's (account_host/expiry/lots.py)
