"""What an approved transaction moved, kept in memory so that a reversal can undo it exactly,
without a database round trip.

Every journal entry of this host has two postings: the member's account and one counter account
(a merchant's or the alliance's) in the same ledger (docs/ledger.md). So a transaction is at
most two such pairs, one per ledger, and its reversal posts the same pairs negated.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class TransactionType(StrEnum):
    """transactions.kind: one per message the host posts."""

    PURCHASE = "purchase"                            # 0200/000000
    STORED_VALUE_PURCHASE = "stored_value_purchase"  # 0200/006000
    REDEMPTION = "redemption"                        # 0200/900000
    RETURN = "return"                                # 0200/200000
    STORED_VALUE_LOAD = "stored_value_load"          # 0200/210000
    POINTS_EXCHANGE = "points_exchange"              # 0200/400060
    OFFLINE_PURCHASE = "offline_purchase"            # 0220/000000
    REVERSAL = "reversal"                            # 0400, 0420
    LOTTERY = "lottery"                              # 0200/910000
    # a back-office command's (proto.host_commands): no message, no terminal
    POINTS_ADJUSTMENT = "points_adjustment"
    STORED_VALUE_ADJUSTMENT = "stored_value_adjustment"
    POINTS_TRANSFER = "points_transfer"
    CARD_REPLACEMENT = "card_replacement"
    CARD_CLOSURE = "card_closure"
    JOIN_BONUS = "join_bonus"
    # posted by the host with the purchase it rewards (no message of its own)
    REFERRAL_BONUS = "referral_bonus"


# Those that earn points by the earn rules (and count against their caps).
EARNING_TYPES = frozenset({
    TransactionType.PURCHASE, TransactionType.STORED_VALUE_PURCHASE,
    TransactionType.OFFLINE_PURCHASE,
})

# Purchases a return may name by RRN (host interface §4, Return).
RETURNABLE_TYPES = frozenset({
    TransactionType.PURCHASE, TransactionType.STORED_VALUE_PURCHASE,
    TransactionType.OFFLINE_PURCHASE,
})


class Posted(msgspec.Struct, gc=False):
    """One approved transaction that a reversal may undo: about 130 bytes (a 16-byte header
    and 15 slots; the ints are mostly shared with the card, merchant and account maps).

    Amounts are the member's side, signed as they were posted; the counter account got the
    opposite. An account id is 0 where its ledger did not move.
    """

    transaction_id: int
    type: TransactionType
    card_id: int                  # 0: an offline advice for a card this host does not know
    batch_number: int             # the terminal batch whose totals count it
    amount: int                   # field 4, as the totals count it
    points_account_id: int = 0
    points_counter_account_id: int = 0
    points: int = 0
    stored_value_account_id: int = 0
    stored_value_counter_account_id: int = 0
    stored_value_fen: int = 0
    # A purchase: its own RRN; a return: its purchase's. The key in the return index.
    purchase_rrn: int = 0
    reversed: bool = False
    # A redemption of a gift: the gift's key in HostState.gifts, which its reversal restocks.
    gift: tuple[int, str] | None = None
    # What it did to the card's lots (account_host/expiry/lots.py), which its reversal undoes.
    lots: tuple[int, ...] = ()
    # Whether a purchase or return counted in its card's tier standing, whose holder's rolling
    # total its reversal corrects (tiers/holders.py); None: not known (remembered from the
    # journal after a restart: the reversal corrects the standing if the card has one).
    tier_counted: bool | None = None
