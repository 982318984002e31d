"""The host's in-memory model: every balance, card, merchant and open batch it needs to decide
a request without touching the database (loading.py reads it in bulk).

Only the writer task mutates it. Per card it keeps one small struct; with its PAN, its dict
entry and one account's balance that is about 300 bytes, so 10^6 cards take about 300 MB.
Balances are a dict account id -> int, and an account that does not exist yet has balance 0.
"""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

import msgspec

from account_host.idempotency import RetransmissionMemory
from proto.codes import ResponseCode

# Card status -> the answer a request with that card gets (None: the card may transact).
CARD_STATUS_DECLINES: dict[str, ResponseCode | None] = {
    "active": None,
    "lost": ResponseCode.CARD_LOST,
    "stolen": ResponseCode.CARD_STOLEN,
    "blocked": ResponseCode.DO_NOT_HONOUR,
}
# Merchants and alliances are a coalition's few thousand rows; far more is a data error.
MERCHANTS_MAX = 1_000_000
# The first batch of a terminal that has no terminal_batches row yet.
FIRST_BATCH_NUMBER = 1


class Alliance(msgspec.Struct, frozen=True):
    id: int
    timezone: ZoneInfo
    cutover_local_time: time
    exchange_points_per_yuan: int


class Merchant(msgspec.Struct, frozen=True):
    id: int
    merchant_code: str
    alliance_id: int
    active: bool
    earn_points_per_yuan: int


class Card(msgspec.Struct, gc=False):
    """One card; account ids are 0 until the card's first posting creates the account."""

    id: int
    alliance_id: int
    decline_code: ResponseCode | None   # from the card's status
    expires_ordinal: int                # date.toordinal() of expires_on
    points_account_id: int = 0
    stored_value_account_id: int = 0


class HostState:
    """Everything the writer decides from. A failed batch replaces it with a fresh load."""

    def __init__(self, retransmission_window_s: int) -> None:
        self.alliances: dict[int, Alliance] = {}
        self.merchants: dict[str, Merchant] = {}            # by merchant code (field 42)
        self.issued_accounts: dict[int, int] = {}           # merchant id -> points issued
        self.cards: dict[str, Card] = {}                    # by PAN
        self.highest_card_id = 0
        self.balances: dict[int, int] = {}                  # account id -> balance
        self.open_batches: dict[str, int] = {}              # terminal code -> batch number
        self.retransmissions = RetransmissionMemory(retransmission_window_s)

    def balance(self, account_id: int) -> int:
        return self.balances.get(account_id, 0) if account_id else 0

    def open_batch(self, terminal_code: str) -> int:
        return self.open_batches.get(terminal_code, FIRST_BATCH_NUMBER)

    def merge_cards(self, cards: list[LoadedCard]) -> None:
        """Add new cards and refresh known ones; accounts already in memory stay authoritative
        (the writer may have posted to them since the rows were read)."""
        for loaded in cards:
            card = loaded.card
            known = self.cards.get(loaded.pan)
            if known is not None:
                card.points_account_id = known.points_account_id
                card.stored_value_account_id = known.stored_value_account_id
            else:
                for account_id, balance in loaded.balances:
                    self.balances.setdefault(account_id, balance)
            self.cards[loaded.pan] = card
            self.highest_card_id = max(self.highest_card_id, card.id)

    def replace_merchants(self, merchants: list[Merchant]) -> None:
        self.merchants = {merchant.merchant_code: merchant for merchant in merchants}

    def replace_alliances(self, alliances: list[Alliance]) -> None:
        self.alliances = {alliance.id: alliance for alliance in alliances}


class LoadedCard(msgspec.Struct, gc=False):
    """A card as read, with the (account id, balance) pairs of its existing accounts."""

    pan: str
    card: Card
    balances: tuple[tuple[int, int], ...]
