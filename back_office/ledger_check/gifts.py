"""Gifts (migration 021): each redemption that took a gift is a redemption of that gift's
price at a merchant of the gift's alliance, and a gift added with a stock has the stock that
its restocks and its standing redemptions leave.

A gift's stock is kept by one host (`gift_catalogue.host_name`), whose partition holds all its
redemptions: with partitions, each partition checks the stock of its own gifts.
"""

from __future__ import annotations

from back_office.ledger_check.check import PARTITION_NAME_SQL, Check

GIFT_REDEMPTION_MISMATCH = Check(
    name="gift_redemption_mismatch",
    description=("a redemption that took a gift is a redemption of the gift's price at a"
                 " merchant of the gift's alliance"),
    sql="""
        SELECT r.transaction_id AS transaction_id,
               format('transaction %s (%s of %s at merchant %s) took gift %s/%s priced %s',
                      r.transaction_id, t.kind, t.amount, t.merchant_id, r.alliance_id,
                      r.gift_code, g.points) AS detail
        FROM gift_redemptions AS r
        JOIN transactions AS t ON t.id = r.transaction_id
        JOIN gift_catalogue AS g
          ON g.alliance_id = r.alliance_id AND g.gift_code = r.gift_code
        LEFT JOIN merchants AS m ON m.id = t.merchant_id
        WHERE t.kind <> 'redemption' OR t.amount <> g.points
           OR m.alliance_id IS DISTINCT FROM r.alliance_id
    """,
)

GIFT_STOCK_MISMATCH = Check(
    name="gift_stock_mismatch",
    description=("a gift added with a stock has that stock, plus its restocks, less its"
                 " redemptions not reversed, and never below zero"),
    sql=f"""
        SELECT g.alliance_id AS alliance_id, g.gift_code AS gift_key,
               format('gift %s/%s has %s in stock; added with %s, restocked %s, taken %s',
                      g.alliance_id, g.gift_code, g.stock, g.stock_initial,
                      coalesce(s.restocked, 0), coalesce(u.taken, 0)) AS detail
        FROM gift_catalogue AS g
        LEFT JOIN (SELECT gift_alliance_id, gift_code,
                          sum((payload->>'quantity')::bigint) AS restocked
                   FROM host_commands
                   WHERE kind = 'gift_restock' AND state = 'done'
                   GROUP BY gift_alliance_id, gift_code) AS s
               ON s.gift_alliance_id = g.alliance_id AND s.gift_code = g.gift_code
        LEFT JOIN (SELECT r.alliance_id, r.gift_code, count(*) AS taken
                   FROM gift_redemptions AS r
                   WHERE NOT EXISTS (SELECT 1 FROM transactions AS v
                                     WHERE v.kind = 'reversal'
                                       AND v.original_transaction_id = r.transaction_id)
                   GROUP BY r.alliance_id, r.gift_code) AS u
               ON u.alliance_id = g.alliance_id AND u.gift_code = g.gift_code
        WHERE (g.stock < 0
               OR (g.stock_initial IS NOT NULL AND g.stock IS DISTINCT FROM
                   g.stock_initial + coalesce(s.restocked, 0) - coalesce(u.taken, 0)))
          AND g.host_name = coalesce({PARTITION_NAME_SQL}, g.host_name)
    """,
)

CHECKS = (GIFT_REDEMPTION_MISMATCH, GIFT_STOCK_MISMATCH)
