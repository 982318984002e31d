"""The clearing report of one alliance's business date, as data: what `jifen clearing report`
prints as a table, CSV or JSON, and what the settlement files are cut from.

Amounts are integer fen from the merchant's side, as in the clearing tables: + HQ owes the
merchant, - the merchant owes HQ (HQ's own lines: + HQ income, - HQ pays). Every amount is
shown as the first run's, the adjustment runs' (summed) and the final one: original +
adjustments = final.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

# Category -> (Chinese, English) labels for people; the order in which reports list them.
CATEGORY_LABELS: dict[str, tuple[str, str]] = {
    "points_issued": ("积分发行", "points issued"),
    "points_redeemed": ("积分兑换", "points redeemed"),
    "stored_value_loaded": ("储值充值", "stored value loaded"),
    "stored_value_spent": ("储值消费", "stored value spent"),
    "commission": ("佣金", "commission"),
    "points_exchanged": ("积分转储值", "points exchanged (HQ funds)"),
    "breakage": ("过期积分", "breakage (HQ income)"),
    "points_adjusted": ("积分调整", "points adjusted by the back office"),
    "points_bonus": ("奖励积分", "points given as bonuses (joining, referrals)"),
    "lottery": ("积分抽奖", "lottery: stakes less points prizes"),
    "stored_value_adjusted": ("储值调整", "stored value adjusted by the back office"),
    "stored_value_refunded": ("销卡退款", "stored value refunded at closure (HQ pays)"),
}
# HQ's own lines (merchant_id NULL), outside the nets, in the order reports list them.
HQ_LINES = ("breakage", "points_exchanged", "points_adjusted", "points_bonus", "lottery",
            "stored_value_adjusted", "stored_value_refunded")
CATEGORY_ORDER = {category: index for index, category in enumerate(CATEGORY_LABELS)}

PAYS_HQ = "pays HQ"
PAID_BY_HQ = "paid by HQ"
NOTHING_TO_SETTLE = "nothing to settle"
INSTRUCTION_LABELS = {PAYS_HQ: "付总部", PAID_BY_HQ: "总部付", NOTHING_TO_SETTLE: "无需结算"}

OUT_OF_BALANCE = "out_of_balance"      # the 0500 was answered 95
NOT_RECONCILED = "not_reconciled"      # no 0500 closed the batch
BATCH_STATE_LABELS = {OUT_OF_BALANCE: ("对账不平", "out of balance (95)"),
                      NOT_RECONCILED: ("未对账", "never reconciled")}


class Amounts(msgspec.Struct, frozen=True):
    original_fen: int
    adjustments_fen: int
    final_fen: int

    @staticmethod
    def of(original_fen: int, adjustments_fen: int) -> Amounts:
        return Amounts(original_fen, adjustments_fen, original_fen + adjustments_fen)


class Line(msgspec.Struct, frozen=True):
    """One category of one party: final points and count, amounts original/adjust/final."""

    category: str
    points: int
    count: int
    amount: Amounts


class RunRef(msgspec.Struct, frozen=True):
    run_id: int
    kind: str                          # 'run' or 'adjustment'
    adjusts_run_id: int | None
    reason: str | None
    created_at: datetime
    created_by: str
    journal_entries: int


class Instruction(msgspec.Struct, frozen=True):
    direction: str                     # PAYS_HQ, PAID_BY_HQ or NOTHING_TO_SETTLE
    amount_fen: int                    # >= 0


class MerchantDetail(msgspec.Struct, frozen=True):
    """明细: one merchant's positions, its commission, its net and what it settles."""

    merchant: str                      # merchant code (field 42)
    name: str
    lines: list[Line]                  # commission included
    commission: Amounts
    net: Amounts                       # + HQ pays the merchant, - the merchant pays HQ
    instruction: Instruction


class HqSummary(msgspec.Struct, frozen=True):
    """总帐: the alliance's totals per category, HQ's net and its own lines."""

    categories: list[Line]             # merchants' categories summed
    hq_net: Amounts                    # + HQ receives, - HQ pays
    hq_lines: list[Line]               # HQ's own lines (HQ_LINES), outside the nets
    merchants_paying_hq: int
    merchants_paid_by_hq: int
    paid_to_hq_fen: int
    paid_by_hq_fen: int


class BatchIssue(msgspec.Struct, frozen=True):
    """A terminal batch of the day that was out of balance or never reconciled."""

    terminal: str
    merchant: str
    batch_number: int
    state: str                         # OUT_OF_BALANCE or NOT_RECONCILED
    opened_at: datetime | None         # None: the terminal's first batch, never closed
    closed_at: datetime | None
    result_code: str | None
    transactions: int                  # of the business date in this batch


class ClearingReport(msgspec.Struct, frozen=True):
    alliance: str
    business_date: date
    merchant_filter: str | None        # --merchant: the summary is left out
    sealed_at: datetime
    generated_at: datetime
    runs: list[RunRef]
    summary: HqSummary | None
    merchants: list[MerchantDetail]
    terminal_batches: list[BatchIssue]


def instruction_for(net_fen: int) -> Instruction:
    if net_fen < 0:
        return Instruction(PAYS_HQ, -net_fen)
    if net_fen > 0:
        return Instruction(PAID_BY_HQ, net_fen)
    return Instruction(NOTHING_TO_SETTLE, 0)


def category_label(category: str) -> str:
    chinese, english = CATEGORY_LABELS.get(category, (category, category))
    return f"{chinese} {english}"
