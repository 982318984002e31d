"""The digest's figures of a date as pure functions of clearing's `DayJournal` (the integer
sums per counter account kind and merchant, over every partition): the flows, the merchants
that issued most, and the liability's value at the issue price."""

from __future__ import annotations

from decimal import Decimal, localcontext

from clearing.compute import round_fen
from clearing.digest.model import TOP_MERCHANTS_MAX, DayFlows, MerchantFigures
from clearing.journal import DayJournal

# Far more digits than 10^12 points x a price of 6 decimals needs: nothing rounds but round_fen.
PRECISION_DIGITS = 60
HQ_ISSUES = ("alliance_points_bonus", "alliance_points_adjusted", "alliance_points_lottery")


def day_flows(journal: DayJournal, merchant_ids: list[int]) -> DayFlows:
    def merchants(kind: str) -> int:
        return sum(journal.amount(kind, merchant_id) for merchant_id in merchant_ids)

    def alliance(kind: str) -> int:
        return journal.amount(kind, None)

    return DayFlows(
        points_issued=-merchants("merchant_points_issued"),
        points_given=-sum(alliance(kind) for kind in HQ_ISSUES),
        points_redeemed=merchants("merchant_points_redeemed"),
        points_exchanged=alliance("alliance_points_exchanged"),
        points_expired=alliance("alliance_breakage"),
        stored_value_loaded_fen=-merchants("merchant_stored_value_loaded"),
        stored_value_spent_fen=merchants("merchant_stored_value_spent"),
    )


def top_merchants(
    journal: DayJournal, merchants: dict[int, tuple[str, str]],
) -> list[MerchantFigures]:
    """The merchants that issued the most points on the date (then by transactions, code),
    at most TOP_MERCHANTS_MAX; a merchant with nothing on the date is left out.
    `merchants`: id -> (code, name)."""
    figures = []
    for merchant_id, (code, name) in merchants.items():
        line = MerchantFigures(
            merchant=code, name=name,
            points_issued=-journal.amount("merchant_points_issued", merchant_id),
            points_redeemed=journal.amount("merchant_points_redeemed", merchant_id),
            stored_value_loaded_fen=-journal.amount("merchant_stored_value_loaded",
                                                    merchant_id),
            stored_value_spent_fen=journal.amount("merchant_stored_value_spent", merchant_id),
            transactions=journal.transactions.get(merchant_id, 0))
        if (line.points_issued, line.points_redeemed, line.stored_value_loaded_fen,
                line.stored_value_spent_fen, line.transactions) != (0, 0, 0, 0, 0):
            figures.append(line)
    figures.sort(key=lambda line: (-line.points_issued, -line.transactions, line.merchant))
    return figures[:TOP_MERCHANTS_MAX]


def value_fen(points: int, issue_price_fen: Decimal) -> int:
    """Points at a price in fen per point, rounded once, half up (as clearing rounds)."""
    with localcontext() as context:
        context.prec = PRECISION_DIGITS
        return round_fen(points * issue_price_fen)
