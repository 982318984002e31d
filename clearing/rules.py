"""Settlement rules as clearing uses them: the rule in force for each merchant on a date, and
the snapshot of them that a run stores.

The rule in force for (merchant, D) is the merchant's latest with effective_from <= D, else
the alliance's latest (merchant_id NULL); a merchant with neither clears at zero prices.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import asyncpg
import msgspec

_ZERO = Decimal(0)

_IN_FORCE_SQL = """
SELECT DISTINCT ON (merchant_id) id, merchant_id, effective_from, issue_price_fen,
       redemption_rate_fen, commission_bp, commission_fen_per_txn
FROM settlement_rules
WHERE alliance_id = $1 AND effective_from <= $2
ORDER BY merchant_id NULLS FIRST, effective_from DESC
"""


class Rule(msgspec.Struct, frozen=True):
    """Prices in fen per point and fen per transaction, exact decimals."""

    rule_id: int | None                 # None: no rule at all (everything at zero)
    effective_from: date | None
    issue_price_fen: Decimal
    redemption_rate_fen: Decimal
    commission_bp: int
    commission_fen_per_txn: Decimal


NO_RULE = Rule(None, None, _ZERO, _ZERO, 0, _ZERO)


class RulesInForce(msgspec.Struct, frozen=True):
    alliance: Rule
    merchants: dict[int, Rule]          # merchant id -> its own rule, where it has one

    def for_merchant(self, merchant_id: int) -> Rule:
        return self.merchants.get(merchant_id, self.alliance)

    def snapshot(self, merchant_codes: dict[int, str]) -> dict[str, object]:
        """What a run stores: the rules used, decimals as strings (JSON has no decimals)."""
        return {
            "alliance": msgspec.to_builtins(self.alliance),
            "merchants": {merchant_codes.get(merchant_id, str(merchant_id)):
                          msgspec.to_builtins(rule)
                          for merchant_id, rule in sorted(self.merchants.items())},
        }


def _rule(row: asyncpg.Record) -> Rule:
    return Rule(row["id"], row["effective_from"], row["issue_price_fen"],
                row["redemption_rate_fen"], row["commission_bp"], row["commission_fen_per_txn"])


async def rules_in_force(conn: asyncpg.Connection, alliance_id: int, day: date) -> RulesInForce:
    alliance = NO_RULE
    merchants: dict[int, Rule] = {}
    for row in await conn.fetch(_IN_FORCE_SQL, alliance_id, day):
        if row["merchant_id"] is None:
            alliance = _rule(row)
        else:
            merchants[row["merchant_id"]] = _rule(row)
    return RulesInForce(alliance, merchants)
