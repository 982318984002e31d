"""The chart of accounts (docs/ledger.md): two ledgers, each account kind in one of them, owned
by a card, a merchant or the alliance. Migration 002 holds the same chart as a constraint.

Sign convention: a posting adds its amount to the account's balance. A member's balance is
what the programme owes the member (points, or stored value in fen), so it is zero or positive
except a points balance that a return or reversal took below zero. The other side of every
movement is a merchant's or the alliance's account, whose balance is the mirror image; every
journal entry sums to zero within its ledger, so each ledger's balances sum to zero.
"""

from __future__ import annotations

from enum import StrEnum

POINTS_LEDGER = "points"   # currency 999, whole points
MONEY_LEDGER = "money"     # currency 156, fen


class Owner(StrEnum):
    CARD = "card"
    MERCHANT = "merchant"
    ALLIANCE = "alliance"


class AccountKind(StrEnum):
    # points ledger
    MEMBER_POINTS = "member_points"
    MERCHANT_POINTS_ISSUED = "merchant_points_issued"        # earned at the merchant
    MERCHANT_POINTS_REDEEMED = "merchant_points_redeemed"    # spent at the merchant
    ALLIANCE_POINTS_EXCHANGED = "alliance_points_exchanged"  # turned into stored value
    ALLIANCE_BREAKAGE = "alliance_breakage"                  # expired, or forfeited at closure
    ALLIANCE_POINTS_ADJUSTED = "alliance_points_adjusted"    # given or taken by the back office
    ALLIANCE_POINTS_BONUS = "alliance_points_bonus"          # given as bonuses (join, referral)
    ALLIANCE_POINTS_LOTTERY = "alliance_points_lottery"      # stakes in, points prizes out
    # points between partitions: up at the source's debit, down at the destination's credit
    ALLIANCE_POINTS_IN_TRANSIT = "alliance_points_in_transit"
    # money ledger
    MEMBER_STORED_VALUE = "member_stored_value"
    MERCHANT_STORED_VALUE_LOADED = "merchant_stored_value_loaded"   # cash taken at a load
    MERCHANT_STORED_VALUE_SPENT = "merchant_stored_value_spent"     # paid to the merchant
    ALLIANCE_STORED_VALUE_EXCHANGE = "alliance_stored_value_exchange"  # paid for points
    ALLIANCE_STORED_VALUE_ADJUSTED = "alliance_stored_value_adjusted"  # by the back office
    ALLIANCE_STORED_VALUE_REFUNDED = "alliance_stored_value_refunded"  # paid out at closure
    ALLIANCE_STORED_VALUE_IN_TRANSIT = "alliance_stored_value_in_transit"  # between partitions


# kind -> (ledger, owner)
ACCOUNT_KINDS: dict[AccountKind, tuple[str, Owner]] = {
    AccountKind.MEMBER_POINTS: (POINTS_LEDGER, Owner.CARD),
    AccountKind.MERCHANT_POINTS_ISSUED: (POINTS_LEDGER, Owner.MERCHANT),
    AccountKind.MERCHANT_POINTS_REDEEMED: (POINTS_LEDGER, Owner.MERCHANT),
    AccountKind.ALLIANCE_POINTS_EXCHANGED: (POINTS_LEDGER, Owner.ALLIANCE),
    AccountKind.ALLIANCE_BREAKAGE: (POINTS_LEDGER, Owner.ALLIANCE),
    AccountKind.ALLIANCE_POINTS_ADJUSTED: (POINTS_LEDGER, Owner.ALLIANCE),
    AccountKind.ALLIANCE_POINTS_BONUS: (POINTS_LEDGER, Owner.ALLIANCE),
    AccountKind.ALLIANCE_POINTS_LOTTERY: (POINTS_LEDGER, Owner.ALLIANCE),
    AccountKind.ALLIANCE_POINTS_IN_TRANSIT: (POINTS_LEDGER, Owner.ALLIANCE),
    AccountKind.MEMBER_STORED_VALUE: (MONEY_LEDGER, Owner.CARD),
    AccountKind.MERCHANT_STORED_VALUE_LOADED: (MONEY_LEDGER, Owner.MERCHANT),
    AccountKind.MERCHANT_STORED_VALUE_SPENT: (MONEY_LEDGER, Owner.MERCHANT),
    AccountKind.ALLIANCE_STORED_VALUE_EXCHANGE: (MONEY_LEDGER, Owner.ALLIANCE),
    AccountKind.ALLIANCE_STORED_VALUE_ADJUSTED: (MONEY_LEDGER, Owner.ALLIANCE),
    AccountKind.ALLIANCE_STORED_VALUE_REFUNDED: (MONEY_LEDGER, Owner.ALLIANCE),
    AccountKind.ALLIANCE_STORED_VALUE_IN_TRANSIT: (MONEY_LEDGER, Owner.ALLIANCE),
}

# The account row's owner columns (card_id, merchant_id, alliance_id) of a kind and owner id.
OwnerColumns = tuple[int | None, int | None, int | None]


def owner_columns(kind: AccountKind, owner_id: int) -> OwnerColumns:
    owner = ACCOUNT_KINDS[kind][1]
    if owner is Owner.CARD:
        return owner_id, None, None
    if owner is Owner.MERCHANT:
        return None, owner_id, None
    return None, None, owner_id
