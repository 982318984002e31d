"""The daily digest (日报) of one alliance's business date, as data: what `jifen report daily`
prints as a table, CSV or JSON, and what the nightly writes beside clearing's report.

Points are whole points, amounts integer fen (`*_fen`), never floats. The points figures are
the journal's sums on the alliance's counter accounts (docs/ledger.md), read as clearing
reads them, so that the digest's "points issued" is clearing's `points_issued` to the point:

    points_issued     -(merchant_points_issued): earned at merchants, less returns, reversals
    points_given      -(alliance_points_bonus + alliance_points_adjusted
                        + alliance_points_lottery): bonuses, the back office's adjustments,
                       the lottery's points prizes less its stakes
    points_redeemed   merchant_points_redeemed: spent at merchants
    points_exchanged  alliance_points_exchanged: turned into stored value
    points_expired    alliance_breakage: expired, or forfeited when a card was closed

Each entry sums to zero, so the members' points moved by the date's entries are exactly
issued + given - redeemed - exchanged - expired: the change of the liability.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from clearing.reports.model import BatchIssue

TOP_MERCHANTS_MAX = 10          # the issue's "top merchants": the ten that issued most


class DayFlows(msgspec.Struct, frozen=True):
    """What moved on one date, from the journal (see the module's docstring)."""

    points_issued: int
    points_given: int
    points_redeemed: int
    points_exchanged: int
    points_expired: int
    stored_value_loaded_fen: int     # cash members loaded at merchants' counters
    stored_value_spent_fen: int      # stored value members spent at merchants

    @property
    def liability_change(self) -> int:
        """The members' points this date's entries added (issued less redeemed, expired)."""
        return (self.points_issued + self.points_given - self.points_redeemed
                - self.points_exchanged - self.points_expired)


class Liability(msgspec.Struct, frozen=True):
    """The points the alliance owes its members at the end of the date, and their value at
    the alliance's issue price in force on the date (the price clearing values breakage at)."""

    points: int
    issue_price_fen: str             # fen per point, an exact decimal as text ("0.755")
    amount_fen: int                  # round(points x issue price), half up


class MerchantFigures(msgspec.Struct, frozen=True):
    merchant: str                    # merchant code (field 42)
    name: str
    points_issued: int
    points_redeemed: int
    stored_value_loaded_fen: int
    stored_value_spent_fen: int
    transactions: int                # financial transactions at its terminals, reversals -1


class RiskQueue(msgspec.Struct, frozen=True):
    """Risk reviews open when the digest was made (`jifen risk queue`), over every partition:
    a warning is for an operator to look at, a block has a card blocked until one decides."""

    open_warnings: int
    open_blocks: int
    oldest_open_at: datetime | None  # None: nothing open


class TrendDay(msgspec.Struct, frozen=True):
    """One date of the trend: its flows and the liability at its end."""

    business_date: date
    flows: DayFlows
    liability_points: int


class DailyDigest(msgspec.Struct, frozen=True):
    alliance: str
    business_date: date
    generated_at: datetime
    partitions: list[str]            # every partition read, central's first
    members_active: int              # members with a posting at a terminal on the date
    members_new: int                 # members created within the date
    flows: DayFlows
    liability: Liability
    top_merchants: list[MerchantFigures]
    terminal_batches: list[BatchIssue]   # out of balance (95) or never reconciled
    risk_queue: RiskQueue
    trend: list[TrendDay]            # oldest first, ending with the date; [] without --trend
