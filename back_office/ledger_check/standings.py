"""Tier standings (migrations 026, 027): a holder's row names the tier and the last sure day of
its newest standing, wherever that copy is (the row, or one of its cards' points accounts):
the nightly review selects holders by the row's columns."""

from __future__ import annotations

from back_office.ledger_check.check import Check

STANDING_ROW_STALE = Check(
    name="standing_row_stale",
    description=("a holder's tier_standings row names the tier and last sure day of its newest"
                 " standing"),
    sql="""
        SELECT s.holder AS holder_id,
               format('row %s until %s, newest standing %s until day %s', s.tier,
                      coalesce(s.tier_until::text, 'none'),
                      encode(substring(c.standing FROM 1 FOR 8), 'escape'),
                      ('x' || encode(substring(c.standing FROM 9 FOR 4), 'hex'))::bit(32)::integer)
                   AS detail
        FROM tier_standings AS s
        JOIN tier_standings_current AS c USING (holder)
        WHERE substring(c.standing FROM 1 FOR 8)
                  <> substring(convert_to(s.tier, 'UTF8') || '\\x0000000000000000'::bytea
                               FROM 1 FOR 8)
           OR ('x' || encode(substring(c.standing FROM 9 FOR 4), 'hex'))::bit(32)::integer
                  <> coalesce(s.tier_until - date '0001-01-01' + 1, 0)
    """,
)

CHECKS = (STANDING_ROW_STALE,)
