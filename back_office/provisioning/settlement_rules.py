"""Settlement rules of an alliance (default) and of its merchants (override), versioned by
effective date (docs/clearing.md): issue price and redemption rate (结算比例) in fen per point,
HQ's commission in basis points and/or fen per transaction. Prices are exact decimals.

A rule takes effect on a date not yet cleared; a rule for a cleared date needs
`retroactive`, and then the cleared dates are corrected with `jifen clearing adjust`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning.alliances import alliance_id
from back_office.provisioning.errors import ConflictError, InvalidValueError, NotFoundError

# The schema's numeric(18, 6): at most 6 decimals, below 10^12 fen per point.
PRICE_DECIMALS_MAX = 6
PRICE_FEN_MAX = Decimal(10) ** 12
COMMISSION_BP_MAX = 10_000   # 100 %


class SettlementRule(msgspec.Struct, frozen=True):
    id: int
    alliance_code: str
    merchant_code: str | None      # None: the alliance's default
    effective_from: date
    issue_price_fen: Decimal
    redemption_rate_fen: Decimal
    commission_bp: int
    commission_fen_per_txn: Decimal


_SELECT = """
SELECT r.id, a.code AS alliance_code, m.merchant_code, r.effective_from, r.issue_price_fen,
       r.redemption_rate_fen, r.commission_bp, r.commission_fen_per_txn
FROM settlement_rules r JOIN alliances a ON a.id = r.alliance_id
LEFT JOIN merchants m ON m.id = r.merchant_id
"""
_UPSERT = """
INSERT INTO settlement_rules (alliance_id, merchant_id, effective_from, issue_price_fen,
    redemption_rate_fen, commission_bp, commission_fen_per_txn)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (alliance_id, merchant_id, effective_from) DO UPDATE SET
    issue_price_fen = EXCLUDED.issue_price_fen,
    redemption_rate_fen = EXCLUDED.redemption_rate_fen,
    commission_bp = EXCLUDED.commission_bp,
    commission_fen_per_txn = EXCLUDED.commission_fen_per_txn,
    created_at = now(), created_by = current_user
RETURNING id
"""


def price_fen(value: str | int | Decimal, what: str) -> Decimal:
    """A price in fen as an exact decimal: '0.5', '1', '12.345678'; never a float."""
    assert not isinstance(value, float), "prices are exact decimals, never floats"
    try:
        price = Decimal(value)
    except InvalidOperation as exc:
        raise InvalidValueError(f"{what} {value!r} must be a number of fen, e.g. 0.5") from exc
    if not price.is_finite() or price < 0 or price >= PRICE_FEN_MAX:
        raise InvalidValueError(f"{what} must be between 0 and {PRICE_FEN_MAX} fen, not {value}")
    exponent = price.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > PRICE_DECIMALS_MAX:
        raise InvalidValueError(f"{what} {value} has more than {PRICE_DECIMALS_MAX} decimals")
    return price


def commission_bp(value: int) -> int:
    if not 0 <= value <= COMMISSION_BP_MAX:
        raise InvalidValueError(
            f"commission must be 0-{COMMISSION_BP_MAX} basis points (100 bp = 1 %), not {value}")
    return value


async def set_rule(
    conn: asyncpg.Connection, alliance_code: str, merchant_code: str | None,
    effective_from: date, issue_price: str | Decimal, redemption_rate: str | Decimal,
    commission: int = 0, commission_per_txn: str | Decimal = "0", *,
    retroactive: bool = False,
) -> SettlementRule:
    """Add the rule (or replace the one of the same owner and date)."""
    values = (price_fen(issue_price, "issue price"),
              price_fen(redemption_rate, "redemption rate"), commission_bp(commission),
              price_fen(commission_per_txn, "commission per transaction"))
    async with conn.transaction():
        alliance = await alliance_id(conn, alliance_code)
        merchant = None
        if merchant_code is not None:
            merchant = await conn.fetchval(
                "SELECT id FROM merchants WHERE merchant_code = $1 AND alliance_id = $2",
                merchant_code, alliance)
            if merchant is None:
                raise NotFoundError(f"no merchant {merchant_code} in alliance {alliance_code}")
        cleared = await conn.fetchval(
            "SELECT max(business_date) FROM clearing_runs WHERE alliance_id = $1", alliance)
        if cleared is not None and effective_from <= cleared and not retroactive:
            raise ConflictError(
                f"alliance {alliance_code} is cleared through {cleared}: a rule effective "
                f"{effective_from} would change cleared dates; use a later date, or "
                f"--retroactive and then `jifen clearing adjust` for each cleared date")
        before = await conn.fetchrow(
            "SELECT issue_price_fen, redemption_rate_fen, commission_bp, commission_fen_per_txn"
            " FROM settlement_rules WHERE alliance_id = $1"
            " AND merchant_id IS NOT DISTINCT FROM $2 AND effective_from = $3 FOR UPDATE",
            alliance, merchant, effective_from)
        rule_id = await conn.fetchval(_UPSERT, alliance, merchant, effective_from, *values)
        await record(
            conn, "settlement_rule.set", "settlement_rule",
            f"{alliance_code}/{merchant_code or '*'}/{effective_from}", merchant_id=merchant,
            before=dict(before) if before is not None else None,
            after={"issue_price_fen": values[0], "redemption_rate_fen": values[1],
                   "commission_bp": values[2], "commission_fen_per_txn": values[3],
                   "retroactive": retroactive})
    row = await conn.fetchrow(f"{_SELECT} WHERE r.id = $1", rule_id)
    assert row is not None, "the rule just written"
    return SettlementRule(**dict(row))


async def list_rules(conn: asyncpg.Connection, alliance_code: str) -> list[SettlementRule]:
    await alliance_id(conn, alliance_code)   # an unknown alliance is an error, not []
    rows = await conn.fetch(
        f"{_SELECT} WHERE a.code = $1 "
        "ORDER BY m.merchant_code NULLS FIRST, r.effective_from", alliance_code)
    return [SettlementRule(**dict(row)) for row in rows]
